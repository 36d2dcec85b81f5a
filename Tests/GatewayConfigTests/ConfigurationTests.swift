import Foundation
import Testing
@testable import GatewayConfig

@Suite struct ConfigurationTests {
    static let repoConfig = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("gateway.json").path

    static func problems(_ text: String) -> [String] {
        do {
            _ = try GatewayConfiguration.parse(Array(text.utf8))
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static let minimal = #"{"listeners":[{"name":"a","port":8080}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}]}"#

    @Test func theRepositoryConfigurationIsValidWithFairComDefaults() throws {
        let config = try GatewayConfiguration.load(path: Self.repoConfig)
        #expect(config.listeners.first?.port == 8080)
        #expect(config.upstreams.first?.url.port == 18080)
        let d = config.jsonActionApiDefaults
        #expect(d.maxJsonApiSessions == 1024 && d.maxJsonApiSessionsPerIpAddress == 50 && d.maxJsonApiSessionsPerUsername == 50)
        #expect(d.idleConnectionTimeoutSeconds == 3600 && d.idleCursorTimeoutSeconds == 600)
        #expect(config.limits.maxBodyBytes == 16 << 20)
    }

    @Test func theBodyBudgetAndHTTP2AllowanceAreReadAndChecked() throws {
        let config = try GatewayConfiguration.parse(Array(#"{"listeners":[{"name":"a","port":8080}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}],"limits":{"maxBufferedBodyBytes":33554432,"http2CostlyFrameBurst":20,"http2CostlyFramesPerSecond":5}}"#.utf8))
        #expect(config.limits.maxBufferedBodyBytes == 32 << 20)
        #expect(config.limits.http2CostlyFrameBurst == 20 && config.limits.http2CostlyFramesPerSecond == 5)
        let defaults = try GatewayConfiguration.parse(Array(Self.minimal.utf8))
        #expect(defaults.limits.maxBufferedBodyBytes == 256 << 20)
        let tooSmall = Self.problems(#"{"listeners":[{"name":"a","port":8080}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}],"limits":{"maxBodyBytes":2097152,"maxBufferedBodyBytes":1048576}}"#)
        #expect(tooSmall.contains { $0.contains("limits.maxBufferedBodyBytes") && $0.contains("less than limits.maxBodyBytes") }, "\(tooSmall)")
        // Equal is not enough: a large body may use seven eighths of the budget only.
        let equal = Self.problems(#"{"listeners":[{"name":"a","port":8080}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}],"limits":{"maxBodyBytes":300000,"maxBufferedBodyBytes":300000}}"#)
        #expect(equal.contains { $0.contains("use at least 342858") }, "\(equal)")
        let enough = Self.problems(#"{"listeners":[{"name":"a","port":8080}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}],"limits":{"maxBodyBytes":300000,"maxBufferedBodyBytes":342858}}"#)
        #expect(enough.isEmpty, "\(enough)")
        let zero = Self.problems(#"{"listeners":[{"name":"a","port":8080}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}],"limits":{"http2CostlyFrameBurst":0}}"#)
        #expect(zero.contains { $0.contains("limits.http2CostlyFrameBurst") }, "\(zero)")
    }

    @Test func minimalConfigurationGetsDefaults() throws {
        let config = try GatewayConfiguration.parse(Array(Self.minimal.utf8))
        #expect(config.apiRoot == "/api" && config.listeners[0].address == "127.0.0.1" && config.listeners[0].maxConnections == 10_000)
        #expect(config.upstreams[0].maxConnections == 64 && config.upstreams[0].connectTimeoutSeconds == 2)
        #expect(config.jsonActionApiDefaults == JSONActionAPIDefaults())
    }

    @Test func aBadURLIsNamedByPathAndValue() {
        let text = #"{"listeners":[{"name":"a","port":8080}],"upstreams":[{"name":"u","url":"http://127.0.0.1:1/api"},{"name":"v","url":"htp://x"}]}"#
        #expect(Self.problems(text) == [#"upstreams[1].url: "htp://x" is not an http or https URL"#])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let text = #"""
        {"listeners":[{"name":"a","port":70000,"adress":"x"}],
         "upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api","maxConnections":"many"}],
         "jsonActionApiDefaults":{"defaultDebug":"loud","maxJsonApiSessions":0,"idleConnectionTimeoutSeconds":1.5},
         "limits":{"maxBodyBytes":-1},"logging":{"level":"chatty"},"extra":true}
        """#
        let problems = Self.problems(text)
        let expected = [
            "listeners[0].port: 70000 is out of range 0 to 65535",
            "listeners[0].adress: unknown key",
            #"upstreams[0].maxConnections: "many" is not an integer"#,
            "jsonActionApiDefaults.maxJsonApiSessions: 0 is out of range 1 to 10000000",
            "jsonActionApiDefaults.idleConnectionTimeoutSeconds: 1.5 is not an integer",
            #"jsonActionApiDefaults.defaultDebug: "loud" is not one of "none", "min", "max""#,
            "limits.maxBodyBytes: -1 is out of range 1 to 1073741824",
            #"logging.level: "chatty" is not one of "debug", "info", "warning", "error""#,
            "extra: unknown key",
        ]
        for line in expected { #expect(problems.contains(line), "missing: \(line)\n got: \(problems)") }
        #expect(problems.count == expected.count, "\(problems)")
    }

    @Test func structuralProblems() {
        #expect(Self.problems("{}") == ["listeners: is required: at least one listener", "upstreams: is required: at least one upstream"])
        #expect(Self.problems(#"{"listeners":[],"upstreams":[]}"#) == ["listeners: needs at least one listener", "upstreams: needs at least one upstream"])
        let duplicate = #"{"listeners":[{"name":"a","port":1},{"name":"a","port":2}],"upstreams":[{"name":"u","url":"http://127.0.0.1:1"}]}"#
        #expect(Self.problems(duplicate) == [#"listeners[1].name: "a" is used by an earlier listener"#])
        let badRoot = #"{"apiRoot":"api/","listeners":[{"name":"a","port":1}],"upstreams":[{"name":"u","url":"http://127.0.0.1:1"}]}"#
        #expect(Self.problems(badRoot).first?.hasPrefix("apiRoot:") == true)
        let badHost = #"{"listeners":[{"name":"a","address":"example.com","port":1}],"upstreams":[{"name":"u","url":"http://db.example:1"}]}"#
        #expect(Self.problems(badHost) == [
            #"listeners[0].address: "example.com" is not a numeric IPv4 or IPv6 address"#,
            #"upstreams[0].url: "http://db.example:1": host must be a numeric IPv4 or IPv6 address or localhost"#,
        ])
    }

    @Test func invalidJSONSaysWhere() {
        let problems = Self.problems("{\n  \"listeners\": [,]\n}")
        #expect(problems.count == 1)
        #expect(problems.first?.contains("line 2, column 17") == true, "\(problems)")
    }

    @Test func upstreamURLs() {
        #expect(UpstreamURL("http://127.0.0.1:18080/api")?.path == "/api")
        #expect(UpstreamURL("http://[::1]:9/x")?.host == "::1")
        #expect(UpstreamURL("http://127.0.0.1")?.port == 80)
        #expect(UpstreamURL("http://127.0.0.1:0/") == nil)
        #expect(UpstreamURL("ftp://127.0.0.1/") == nil)
        #expect(UpstreamURL("http://user@127.0.0.1/") == nil)
    }
}
