import GatewaySystem
import Synchronization

/// A leveled logger writing one line per event to standard error.
///
/// Messages are autoclosures: a line below the configured level costs one comparison.
/// Secrets never go in a message; wrap anything user-supplied that might hold one in `Redacted`.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case debug, info, warning, error

        public init?(name: String) {
            switch name {
            case "debug": self = .debug
            case "info": self = .info
            case "warning": self = .warning
            case "error": self = .error
            default: return nil
            }
        }

        public var name: String {
            switch self {
            case .debug: return "debug"
            case .info: return "info"
            case .warning: return "warning"
            case .error: return "error"
            }
        }

        public static func < (l: Level, r: Level) -> Bool { l.rawValue < r.rawValue }
    }

    public var label: String
    /// Shared by every copy of this logger, so that a reload's new level reaches them all.
    private let threshold: LevelSetting

    private final class LevelSetting: Sendable {
        let raw: Atomic<Int>
        init(_ level: Level) { raw = Atomic(level.rawValue) }
    }

    public init(label: String, level: Level = .info) {
        self.label = label
        threshold = LevelSetting(level)
    }

    public var level: Level {
        get { Level(rawValue: threshold.raw.load(ordering: .relaxed)) ?? .info }
        nonmutating set { threshold.raw.store(newValue.rawValue, ordering: .relaxed) }
    }

    public func isEnabled(_ level: Level) -> Bool { level >= self.level }

    public func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= self.level else { return }
        ProcessSetup.writeStandardError("\(WallClock.logTimestamp()) \(level.name) \(label): \(Self.oneLine(message()))\n")
    }

    /// A message as one line: control characters (a newline in a client's username, say) are
    /// written as \n, \r, \t or \u{XX}, so no client can forge or split a log line.
    static func oneLine(_ message: String) -> String {
        guard message.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return message }
        var out = ""
        out.reserveCapacity(message.utf8.count + 8)
        for scalar in message.unicodeScalars {
            switch scalar.value {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7F: out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
}

/// A secret that prints as `<redacted>` in any interpolation.
public struct Redacted<Value>: CustomStringConvertible {
    public let value: Value
    public init(_ value: Value) { self.value = value }
    public var description: String { "<redacted>" }
}
