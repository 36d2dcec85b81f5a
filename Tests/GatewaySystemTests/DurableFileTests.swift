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
            #expect(file.size == 1000, "a partial record stayed in the file: \(file.size) bytes")
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
            #expect(file.size == 0, "a reserve does not grow the file")
            _ = try Command.run("dd", ["if=/dev/zero", "of=\(disk)/filler", "bs=4096"])
            #expect(file.freeBytesOnDisk == 0)
            try file.appendDurably(Array(repeating: UInt8(ascii: "r"), count: 16 * 1024))
            #expect(file.size == 16 * 1024, "the reserve took the write")
            #expect(throws: SystemError.self) { try file.reserve(upTo: 64 * 1024) }
            file.close()
        }
    }
}
