/// Why a Redis command did not get its answer.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Redis answered with an error reply the command itself caused (a script error, a wrong type).
    case reply(String)
    /// Redis cannot serve now (LOADING, READONLY, BUSY, OOM, MASTERDOWN, NOAUTH, ...): counts against the breaker.
    case unavailable(String)
    /// No answer within the command timeout.
    case timeout(milliseconds: Int64)
    /// The connection failed or closed before the answer.
    case connectionLost(String)
    /// The breaker is open after repeated failures: not even tried.
    case circuitOpen
    /// Too many commands already wait for a connection.
    case overloaded(Int)
    /// The server sent bytes that are not RESP2.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .reply(let text): "Redis answered: \(text)"
        case .unavailable(let text): "Redis cannot serve now: \(text)"
        case .timeout(let ms): "Redis did not answer within \(ms) ms"
        case .connectionLost(let why): "the connection to Redis was lost: \(why)"
        case .circuitOpen: "Redis is considered down after repeated failures (the circuit breaker is open)"
        case .overloaded(let n): "\(n) Redis commands already wait for a connection"
        case .protocolViolation(let why): "Redis sent something that is not RESP2: \(why)"
        }
    }

    /// Whether this says Redis (or the way to it) is unwell, rather than that the command was wrong.
    public var isOutage: Bool {
        if case .reply = self { return false }
        return true
    }

    /// The error replies that mean "not now" rather than "not this": a server loading its data,
    /// a replica after a failover, a script running too long, memory full, wrong credentials.
    static func classify(_ text: String) -> RedisError {
        let code = text.prefix { $0 != " " }
        switch code {
        case "LOADING", "READONLY", "BUSY", "OOM", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOAUTH", "WRONGPASS", "NOREPLICAS", "MISCONF":
            return .unavailable(text)
        default:
            return .reply(text)
        }
    }
}
