/// Writes Prometheus's text exposition format (version 0.0.4): each family once, with HELP and TYPE,
/// label values escaped. Families must be written whole, one after another.
public struct PrometheusText {
    public private(set) var text = ""

    public init() { text.reserveCapacity(16 * 1024) }

    public enum Kind: String { case counter, gauge, histogram }

    /// Starts a family; its samples follow.
    public mutating func family(_ name: String, _ kind: Kind, help: String) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    /// A family of one unlabelled sample.
    public mutating func single(_ name: String, _ kind: Kind, help: String, _ value: Int) {
        family(name, kind, help: help)
        sample(name, [], value)
    }

    /// A histogram family of one unlabelled histogram.
    public mutating func single(_ name: String, help: String, _ value: Histogram) {
        family(name, .histogram, help: help)
        histogram(name, [], value)
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        sample(name, labels, String(value))
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        sample(name, labels, value.isFinite ? String(value) : (value.isNaN ? "NaN" : value > 0 ? "+Inf" : "-Inf"))
    }

    private mutating func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{"
            for (index, (key, labelValue)) in labels.enumerated() {
                if index > 0 { text += "," }
                text += key + "=\"" + Self.escapeLabel(labelValue) + "\""
            }
            text += "}"
        }
        text += " " + value + "\n"
    }

    /// A whole histogram family's samples (buckets cumulative, in seconds) for one label set.
    public mutating func histogram(_ name: String, _ labels: [(String, String)] = [], _ histogram: Histogram) {
        var cumulative = 0
        for (index, bound) in Histogram.boundsMicroseconds.enumerated() {
            cumulative += histogram.counts[index]
            sample(name + "_bucket", labels + [("le", Self.seconds(bound))], cumulative)
        }
        sample(name + "_bucket", labels + [("le", "+Inf")], histogram.count)
        sample(name + "_sum", labels, Double(histogram.sumMicroseconds) / 1_000_000)
        sample(name + "_count", labels, histogram.count)
    }

    static func seconds(_ microseconds: Int64) -> String {
        String(Double(microseconds) / 1_000_000)
    }

    static func escapeLabel(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    static func escapeHelp(_ value: String) -> String {
        value.replacingBackslashesAndNewlines()
    }
}

private extension String {
    func replacingBackslashesAndNewlines() -> String {
        var out = ""
        for character in self {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
