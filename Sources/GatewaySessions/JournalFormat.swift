import GatewayJSON
import GatewaySystem

/// The journal's bytes: one record per line, `JSON TAB checksum LF`, the checksum being the
/// CRC-32C of the JSON as eight lowercase hex digits. A record is whole only when its line ends
/// and its checksum matches, so a torn write, a flipped bit or two records glued together are
/// all detected, and each is named by its record number and byte offset.
public enum JournalFormat {
    /// Appends one line to `out`: the JSON `writeJSON` appends (which must not contain a raw tab
    /// or newline; JSONWriter never writes one), then its checksum.
    static func appendLine(to out: inout [UInt8], _ writeJSON: (inout [UInt8]) -> Void) {
        let start = out.count
        writeJSON(&out)
        let checksum = out.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        out.append(9)
        out += CRC32C.hex(checksum)
        out.append(10)
    }

    /// One record as found in a file: its 1-based number, where its line starts, how long it is
    /// (its newline included, when it has one), and its JSON when it is whole.
    public struct Record: Sendable {
        public let number: Int
        public let offset: Int
        public let length: Int
        /// Nil when damaged; then `problem` says how.
        public let value: JSONValue?
        public let problem: String?
        /// Whether its line ends (a record is written with its newline in one write).
        public let terminated: Bool
    }

    /// What a scan of a journal file found.
    public struct Scan: Sendable {
        public var records: [Record] = []
        /// Whole records written before checksums existed (a journal from an older gateway).
        public var uncheckedRecords = 0
        public let size: Int

        /// A last record whose line never ended: what a crash in the middle of a write leaves (a
        /// record and its newline go out in one write, and no answer is given before its sync).
        public var tail: (offset: Int, length: Int)? {
            guard let last = records.last, !last.terminated else { return nil }
            return (last.offset, last.length)
        }
        /// Every other damaged record, the last complete one included: not a torn write, but
        /// damage, which must not be skipped silently (it could be a revocation).
        public var damagedBeforeTail: [Record] {
            records.filter { $0.value == nil && $0.terminated }
        }
        public var wholeRecords: [Record] { records.filter { $0.value != nil } }
    }

    /// The zeros after the last nonzero byte are space claimed ahead (see `AppendOnlyFile.reserve`), not records.
    public static func scan(_ bytes: [UInt8]) -> Scan {
        let contentEnd = bytes.lastIndex { $0 != 0 }.map { $0 + 1 } ?? 0
        var scan = Scan(size: contentEnd)
        var start = 0
        var number = 0
        while start < contentEnd {
            number += 1
            let newline = bytes[start..<contentEnd].firstIndex(of: 10)
            let end = newline.map { $0 + 1 } ?? contentEnd
            let (value, problem, unchecked) = decode(bytes[start..<(newline ?? contentEnd)], terminated: newline != nil)
            scan.records.append(Record(number: number, offset: start, length: end - start, value: value, problem: problem,
                                       terminated: newline != nil))
            if value != nil && unchecked { scan.uncheckedRecords += 1 }
            start = end
        }
        return scan
    }

    private static func decode(_ line: ArraySlice<UInt8>, terminated: Bool) -> (JSONValue?, String?, Bool) {
        guard terminated else { return (nil, "no end of line (cut off by a crash or a truncation)", false) }
        guard !line.isEmpty else { return (nil, "an empty line", false) }
        guard let tab = line.lastIndex(of: 9) else {
            // Before checksums, records were bare JSON lines: accepted when they parse whole.
            guard let value = try? JSONParser.parse(Array(line)), value["digest"] != nil else {
                return (nil, "not a journal record (no checksum, not JSON)", false)
            }
            return (value, nil, true)
        }
        let json = line[line.startIndex..<tab]
        let stored = line[(tab + 1)...]
        guard stored.count == 8, CRC32C.hex(CRC32C.checksum(json))[...] == stored else {
            return (nil, "checksum mismatch", false)
        }
        guard let value = try? JSONParser.parse(Array(json)), value["digest"] != nil else {
            return (nil, "checksum matches but the record is not a session record", false)
        }
        return (value, nil, false)
    }

    /// A damaged record, for messages: "record 7 at byte 1234 (210 bytes): checksum mismatch".
    public static func describe(_ record: Record) -> String {
        "record \(record.number) at byte \(record.offset) (\(record.length) bytes): \(record.problem ?? "damaged")"
    }
}
