/// One thing wrong with a configuration, located by its JSON path.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    /// e.g. `upstreams[1].url`; empty for the document itself.
    public let path: String
    public let message: String

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// A configuration that must not be used, with every problem found (not just the first).
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let source: String
    public let problems: [ConfigProblem]
    public var description: String {
        "\(source): \(problems.count) problem\(problems.count == 1 ? "" : "s")\n" + problems.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// Collects problems while readers walk the document.
final class ProblemList {
    var items: [ConfigProblem] = []
    func add(_ path: String, _ message: String) { items.append(ConfigProblem(path: path, message: message)) }
}
