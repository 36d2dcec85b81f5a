import GatewayJSON

/// Reads one JSON object of the configuration: typed getters with defaults that record a problem
/// (with the key's path and the bad value) instead of failing, and `finish()` reports unknown keys.
struct ObjectReader {
    let path: String
    private let members: [(String, JSONValue)]
    private let problems: ProblemList
    private var known: Set<String> = []

    /// Nil (after recording a problem) when `value` is not an object.
    init?(_ value: JSONValue, path: String, problems: ProblemList) {
        guard case .object(let members) = value else {
            problems.add(path, "expected an object, found \(value.typeDescription)")
            return nil
        }
        self.path = path
        self.members = members
        self.problems = problems
        var seen: Set<String> = []
        for (key, _) in members where !seen.insert(key).inserted {
            problems.add(Self.join(path, key), "appears more than once")
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func keyPath(_ key: String) -> String { Self.join(path, key) }

    func report(_ key: String, _ message: String) { problems.add(keyPath(key), message) }

    mutating func value(_ key: String) -> JSONValue? {
        known.insert(key)
        return members.last { $0.0 == key }?.1
    }

    static func show(_ value: JSONValue) -> String {
        let text = JSONWriter.string(value)
        return text.count > 80 ? String(text.prefix(77)) + "..." : text
    }

    mutating func string(_ key: String, default fallback: String, allowed: [String]? = nil) -> String {
        guard let value = value(key) else { return fallback }
        guard let text = value.stringValue else {
            report(key, "\(Self.show(value)) is not a string")
            return fallback
        }
        if let allowed, !allowed.contains(text) {
            report(key, "\"\(text)\" is not one of \(allowed.map { "\"\($0)\"" }.joined(separator: ", "))")
            return fallback
        }
        return text
    }

    mutating func bool(_ key: String, default fallback: Bool) -> Bool {
        guard let value = value(key) else { return fallback }
        guard let flag = value.boolValue else {
            report(key, "\(Self.show(value)) is not true or false")
            return fallback
        }
        return flag
    }

    mutating func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) -> Int {
        number(key, default: fallback, range: range, kind: "an integer", unit: "", convert: \.intValue)
    }

    /// A duration in seconds; fractions are allowed (0.5 is half a second).
    mutating func seconds(_ key: String, default fallback: Double, range: ClosedRange<Double>) -> Double {
        number(key, default: fallback, range: range, kind: "a number of seconds", unit: " seconds", convert: \.doubleValue)
    }

    private mutating func number<N: Comparable>(_ key: String, default fallback: N, range: ClosedRange<N>, kind: String,
                                                unit: String, convert: (JSONValue) -> N?) -> N {
        guard let value = value(key) else { return fallback }
        guard let number = convert(value) else {
            report(key, "\(Self.show(value)) is not \(kind)")
            return fallback
        }
        guard range.contains(number) else {
            report(key, "\(Self.show(value)) is out of range \(range.lowerBound) to \(range.upperBound)\(unit)")
            return fallback
        }
        return number
    }

    mutating func array(_ key: String) -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard let elements = value.arrayValue else {
            report(key, "expected an array, found \(value.typeDescription)")
            return nil
        }
        return elements
    }

    mutating func object(_ key: String) -> ObjectReader? {
        guard let value = value(key) else { return nil }
        return ObjectReader(value, path: keyPath(key), problems: problems)
    }

    /// A reader for an array element that should be an object.
    func child(_ value: JSONValue, path suffix: String) -> ObjectReader? {
        ObjectReader(value, path: "\(path).\(suffix)", problems: problems)
    }

    /// Records every key that no getter asked for.
    func finish() {
        for (key, _) in members where !known.contains(key) {
            problems.add(keyPath(key), "unknown key")
        }
    }
}
