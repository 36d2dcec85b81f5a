import Testing
@testable import GatewayConfig

@Suite struct SessionsConfigurationTests {
    static func config(_ sessions: String) -> String {
        #"{"listeners":[{"name":"a","port":8080}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}],"sessions":\#(sessions)}"#
    }

    @Test func theSessionsSectionIsReadWithItsDefaults() throws {
        let defaults = try GatewayConfiguration.parse(Array(ConfigurationTests.minimal.utf8)).sessions
        #expect(defaults == SessionsConfiguration())
        #expect(defaults.dataDirectory == "data" && defaults.persistSessions && defaults.administrators == ["admin"])
        let set = try GatewayConfiguration.parse(Array(Self.config(
            #"{"dataDirectory":"/var/lib/gw","persistSessions":false,"administrators":["root"],"trustedProxies":["10.0.0.0/8"],"exemptAddresses":["192.0.2.1"],"journalCompactionRecords":500}"#).utf8)).sessions
        #expect(set.dataDirectory == "/var/lib/gw" && !set.persistSessions && set.administrators == ["root"])
        #expect(set.trustedProxies.first?.contains("10.1.2.3") == true && set.exemptAddresses.first?.contains("192.0.2.1") == true)
        #expect(set.journalCompactionRecords == 500)
    }

    @Test func badValuesAreNamedByPath() {
        let problems = ConfigurationTests.problems(Self.config(
            #"{"trustedProxies":["10.0.0.0/40"],"exemptAddresses":[7],"administrators":"admin","dataDirectory":"","journalCompactionRecords":1,"color":"blue"}"#))
        #expect(problems.contains(#"sessions.trustedProxies[0]: "10.0.0.0/40" is not an IPv4 or IPv6 address or CIDR such as "10.0.0.0/8""#))
        #expect(problems.contains("sessions.exemptAddresses[0]: 7 is not a non-empty string"))
        #expect(problems.contains("sessions.administrators: expected an array, found a string"))
        #expect(problems.contains("sessions.dataDirectory: must name a directory"))
        #expect(problems.contains { $0.hasPrefix("sessions.journalCompactionRecords: 1 is out of range") })
        #expect(problems.contains("sessions.color: unknown key"))
    }
}
