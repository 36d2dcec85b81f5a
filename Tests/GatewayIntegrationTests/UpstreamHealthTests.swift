import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// Active JSON checks, passive ejection and weighted least-outstanding routing, driven by the
/// stub's fault switches.
@Suite struct UpstreamHealthTests {
    /// Logs in until a session lands on `stub`; returns its token.
    static func session(on stub: ServerProcess, through port: Int) throws -> String {
        for _ in 0..<10 {
            let before = try SessionTests.stubStats(stub)["sessions"]?.intValue ?? 0
            let token = try TestClient.login(port: port)
            if try SessionTests.stubStats(stub)["sessions"]?.intValue ?? 0 > before { return token }
        }
        throw TestSupportError("no login landed on the stub on port \(stub.port)")
    }

    static func ready(_ port: Int) throws -> [String: String] {
        let upstreams = try TestClient.get(port: port, "/ready").json?["upstreams"]?.arrayValue ?? []
        var states: [String: String] = [:]
        for entry in upstreams { states[entry["name"]?.stringValue ?? "?"] = entry["state"]?.stringValue }
        return states
    }

    @Test func checksTakeAFailingUpstreamDownAndBringItBackWithItsSessions() throws {
        let first = try Servers.stub(), second = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [first.port, second.port]) { config in
            config["admin"] = ["port": 0]
            var upstreams = config["upstreams"] as! [[String: Any]]
            for index in upstreams.indices {
                upstreams[index]["healthCheckIntervalSeconds"] = 0.2
                upstreams[index]["healthCheckFall"] = 2
                upstreams[index]["healthCheckRise"] = 2
                upstreams[index]["ejectAfterFailures"] = 0
            }
            config["upstreams"] = upstreams
        }
        let admin = try gateway.requireListenerPort("admin")
        #expect(SessionLifetimeTests.waitFor(5) { (try? Self.ready(gateway.port)) == ["stub0": "reachable", "stub1": "reachable"] })
        let token = try Self.session(on: first, through: gateway.port)
        #expect(try SessionTests.stubStats(first)["healthChecks"]?.intValue ?? 0 > 0, "the checks speak the JSON Action API")

        try UpstreamFailureTests.setFaults(first, #"{"mode":"http500"}"#)
        #expect(SessionLifetimeTests.waitFor(5) { (try? Self.ready(gateway.port))?["stub0"] == "unreachable" }, "\(gateway.stderr.suffix(800))")
        #expect(gateway.stderr.contains("upstream 'stub0'") && gateway.stderr.contains("is down: check answered HTTP 500"))
        let metrics = try AdminListenerTests.parse(try AdminListenerTests.get(admin, "/metrics").text)
        #expect(metrics["faircom_gateway_upstream_healthy{upstream=\"stub0\"}"] == 0 && metrics["faircom_gateway_upstream_healthy{upstream=\"stub1\"}"] == 1)

        // The session on the down upstream is told to log in again, and is kept.
        let refused = try TestClient.post(port: gateway.port, #"{"action":"listDatabases","authToken":"\#(token)"}"#)
        #expect(refused.status == 503 && refused.json?["errorCode"]?.intValue == 17015, "\(refused.text)")
        #expect(refused.text.contains("Log in again with createSession"))
        let requestsBefore = try SessionTests.stubStats(first)["requests"]?.intValue ?? 0
        // New logins all go to the healthy one.
        let sessionsBefore = try SessionTests.stubStats(second)["sessions"]?.intValue ?? 0
        for _ in 0..<4 { _ = try TestClient.login(port: gateway.port) }
        #expect(try SessionTests.stubStats(second)["sessions"]?.intValue == sessionsBefore + 4)
        #expect(try SessionTests.stubStats(first)["requests"]?.intValue == requestsBefore, "nothing was sent to the down upstream")

        // Back: two passed checks, and the session (which the upstream still knows) works again.
        try UpstreamFailureTests.setFaults(first, #"{"mode":"none"}"#)
        #expect(SessionLifetimeTests.waitFor(5) { (try? Self.ready(gateway.port))?["stub0"] == "reachable" })
        #expect(gateway.stderr.contains("is up: check answered with a FairCom envelope"))
        let again = try SessionTests.call(gateway.port, token, "listDatabases")
        #expect(again["errorCode"]?.intValue == 0, "\(again)")
    }

    @Test func failedRequestsEjectAnUpstreamForItsCoolOff() throws {
        let first = try Servers.stub(), second = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [first.port, second.port]) { config in
            var upstreams = config["upstreams"] as! [[String: Any]]
            for index in upstreams.indices {
                // Checks far apart: what happens here is the requests' doing.
                upstreams[index]["healthCheckIntervalSeconds"] = 600
                upstreams[index]["ejectAfterFailures"] = 3
                upstreams[index]["ejectSeconds"] = 1
            }
            config["upstreams"] = upstreams
        }
        #expect(SessionLifetimeTests.waitFor(5) { (try? Self.ready(gateway.port)) == ["stub0": "reachable", "stub1": "reachable"] })
        let token = try Self.session(on: first, through: gateway.port)
        try UpstreamFailureTests.setFaults(first, #"{"mode":"http500"}"#)
        for _ in 0..<3 {
            #expect(try TestClient.post(port: gateway.port, #"{"action":"listDatabases","authToken":"\#(token)"}"#).status == 500, "relayed as it came")
        }
        let ejected = try TestClient.post(port: gateway.port, #"{"action":"listDatabases","authToken":"\#(token)"}"#)
        #expect(ejected.json?["errorCode"]?.intValue == 17015, "\(ejected.text)")
        #expect(gateway.stderr.contains("ejected for 1 s after 3 failed requests in a row"))
        #expect(try Self.ready(gateway.port)["stub0"] == "unreachable")
        try UpstreamFailureTests.setFaults(first, #"{"mode":"none"}"#)
        // An idle gap longer than the cool-off, then the same session works again.
        #expect(SessionLifetimeTests.waitFor(5) { (try? Self.ready(gateway.port))?["stub0"] == "reachable" })
        #expect(try SessionTests.call(gateway.port, token, "listDatabases")["errorCode"]?.intValue == 0)
    }

    @Test func newLoginsAvoidAnUpstreamWithRequestsUnderWay() throws {
        let busy = try Servers.stub(), free = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [busy.port, free.port]) { config in
            var upstreams = config["upstreams"] as! [[String: Any]]
            for index in upstreams.indices {
                // Checks far apart and no ejection: only the requests under way tell the two apart.
                upstreams[index]["healthCheckIntervalSeconds"] = 600
                upstreams[index]["ejectAfterFailures"] = 0
            }
            config["upstreams"] = upstreams
        }
        #expect(SessionLifetimeTests.waitFor(5) { (try? Self.ready(gateway.port)) == ["stub0": "reachable", "stub1": "reachable"] })
        let token = try Self.session(on: busy, through: gateway.port)
        try UpstreamFailureTests.setFaults(busy, #"{"mode":"hang"}"#)
        let requestsBefore = try SessionTests.stubStats(busy)["requests"]?.intValue ?? 0
        let held = try (0..<2).map { _ in try TestClient(port: gateway.port, timeoutSeconds: 10) }
        for client in held { client.sendPost(#"{"action":"listDatabases","authToken":"\#(token)"}"#) }
        #expect(SessionLifetimeTests.waitFor(5) { (try? SessionTests.stubStats(busy)["requests"]?.intValue) ?? 0 >= requestsBefore + 2 },
                "both requests are under way on the busy upstream")
        // Round-robin would send every other login to the hanging upstream, where it would time out.
        let sessionsBefore = try SessionTests.stubStats(free)["sessions"]?.intValue ?? 0
        for _ in 0..<6 { _ = try TestClient.login(port: gateway.port) }
        #expect(try SessionTests.stubStats(free)["sessions"]?.intValue == sessionsBefore + 6, "\(gateway.stderr.suffix(800))")
    }

    @Test func idleUpstreamsShareLoginsByWeight() throws {
        let heavy = try Servers.stub(), light = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [heavy.port, light.port]) { config in
            var upstreams = config["upstreams"] as! [[String: Any]]
            upstreams[0]["weight"] = 3
            config["upstreams"] = upstreams
        }
        #expect(SessionLifetimeTests.waitFor(5) { (try? Self.ready(gateway.port)) == ["stub0": "reachable", "stub1": "reachable"] })
        for _ in 0..<8 { _ = try TestClient.login(port: gateway.port) }
        #expect(try SessionTests.stubStats(heavy)["sessions"]?.intValue == 6)
        #expect(try SessionTests.stubStats(light)["sessions"]?.intValue == 2)
    }
}
