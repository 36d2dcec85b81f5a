import GatewayTestSupport
import Testing

@Suite struct CheckConfigTests {
    @Test func badConfigurationExitsNonZeroNamingEveryProblem() throws {
        let (status, output) = try Servers.checkConfig(#"{"listeners":[{"name":"a","port":8080,"colour":1}],"upstreams":[{"name":"u","url":"htp://x"}]}"#)
        #expect(status == 1)
        #expect(output.contains(#"upstreams[0].url: "htp://x" is not an http or https URL"#))
        #expect(output.contains("listeners[0].colour: unknown key"))
    }

    @Test func goodConfigurationPasses() throws {
        let (status, output) = try Servers.checkConfig(#"{"listeners":[{"name":"a","port":8080}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}]}"#)
        #expect(status == 0, "\(output)")
    }

    @Test func aBadConfigurationNeverStartsAGateway() throws {
        #expect(throws: (any Error).self) {
            _ = try Servers.gateway(upstreamPorts: [1]) { config in config["limits"] = ["maxBodyBytes": "big"] }
        }
    }
}
