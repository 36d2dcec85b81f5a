import Foundation
import GatewaySystem
import GatewayTestSupport
import Glibc
import Testing

/// An append that the disk cannot take whole leaves the file as it was.
@Suite(.serialized) struct DurableFileTests {
    @Test func aWriteCutShortByAFullDiskIsRolledBack() throws {
        try TestDisks.withTinyDisk("256k") { disk in
            let file = try AppendOnlyFile(path: disk + "/journal")
            try file.appendDurably(Array(repeating: UInt8(ascii: "a"), count: 1000))
            // Leave a few KiB free, then append more than that: the write gets partway and fails.
            _ = try Command.run("dd", ["if=/dev/zero", "of=\(disk)/filler", "bs=1024", "count=248"])
            let big = Array(repeating: UInt8(ascii: "b"), count: 64 * 1024)
            #expect(throws: SystemError.self) { try file.appendDurably(big) }
            #expect(try FileSystem.readBytes(disk + "/journal").count == 1000, "a partial record stayed in the file")
            #expect(file.durableSize == 1000)
            // After space returns, appends go on from the whole end.
            try FileManager.default.removeItem(atPath: disk + "/filler")
            try file.appendDurably(Array("c\n".utf8))
            let bytes = try FileSystem.readBytes(disk + "/journal")
            #expect(bytes.count == 1002 && bytes.suffix(2) == Array("c\n".utf8))
            file.close()
        }
    }

    @Test func preallocatedSpaceIsWritableOnAFullDisk() throws {
        try TestDisks.withTinyDisk("256k") { disk in
            let file = try AppendOnlyFile(path: disk + "/journal")
            try file.reserve(upTo: 32 * 1024)
            #expect(file.durableSize == 0, "a reserve is not content")
            _ = try Command.run("dd", ["if=/dev/zero", "of=\(disk)/filler", "bs=4096"])
            #expect(file.freeBytesOnDisk == 0)
            try file.appendDurably(Array(repeating: UInt8(ascii: "r"), count: 16 * 1024))
            #expect(file.durableSize == 16 * 1024, "the reserve took the write")
            #expect(throws: SystemError.self) { try file.reserve(upTo: 64 * 1024) }
            #expect(file.allocatedSize == 32 * 1024, "a claim the disk refused left nothing behind")
            file.close()
        }
    }

    /// A reopened file goes on after its content, not after the zeros claimed past it.
    @Test func appendsAfterAReopenOverwriteTheClaimedZeros() throws {
        let path = Scratch.root.appendingPathComponent("durable-\(UUID().uuidString)").path
        defer { FileSystem.remove(path) }
        let first = try AppendOnlyFile(path: path)
        try first.appendDurably(Array("one\n".utf8))
        try first.reserve(upTo: 200 * 1024)
        try first.appendDurably(Array("two\n".utf8))
        first.close()
        #expect(try FileSystem.readBytes(path).count == 200 * 1024)
        let second = try AppendOnlyFile(path: path)
        #expect(second.durableSize == 8 && second.allocatedSize == 200 * 1024)
        try second.appendDurably(Array("three\n".utf8))
        second.close()
        let bytes = try FileSystem.readBytes(path)
        #expect(Array(bytes.prefix(14)) == Array("one\ntwo\nthree\n".utf8))
        #expect(bytes.dropFirst(14).allSatisfy { $0 == 0 } && bytes.count == 200 * 1024)
        let empty = try AppendOnlyFile(path: path + ".empty")
        defer { FileSystem.remove(path + ".empty") }
        try empty.reserve(upTo: 100 * 1024)
        empty.close()
        #expect(try AppendOnlyFile(path: path + ".empty").durableSize == 0, "a file of nothing but claimed zeros is empty")
    }
}
