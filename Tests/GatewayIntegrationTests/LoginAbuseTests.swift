import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// A login that fails authentication never holds a place, failed logins are throttled per
/// address and per account-and-address (never per account alone), and the limits stay exact.
@Suite struct LoginAbuseTests {
    static let wrongPassword = #"{"api":"admin","action":"createSession","params":{"username":"admin","password":"guess"}}"#

    /// 16 clients at 127.0.0.2 hammer wrong passwords for admin while the real admin logs in 8
    /// times from 127.0.0.1, against a per-username limit of 10: with logins counted before the
    /// password is checked, the attack's logins in flight took the places. `throttled` false
    /// lets every wrong password through to the upstream, to show that none holds a place anyway.
    @Test(arguments: [true, false])
    func wrongPasswordsHammeredFromOneAddressNeverLockOutTheRealUser(throttled: Bool) throws {
        let stub = try Servers.stub(["--latency-ms", "5"])
        let data = try Servers.temporaryDirectory()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["workers"] = 2
            config["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerUsername": 10]
            config["sessions"] = ["dataDirectory": data, "loginThrottle": throttled ? [:] as [String: Any]
                : ["maxFailuresPerAddress": 1_000_000, "maxFailuresPerUsernameAndAddress": 1_000_000, "maxLoginsInFlightPerAddress": 1000]]
            config["logging"] = ["level": "info"]
        }
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var codes: [Int: Int] = [:]
            var stop = false
            func add(_ code: Int) { lock.lock(); codes[code, default: 0] += 1; lock.unlock() }
        }
        let attack = Tally()
        let attackers = DispatchGroup()
        for _ in 0..<16 {
            DispatchQueue.global().async(group: attackers) {
                while !attack.stop {
                    let code = (try? TestClient.post(port: gateway.port, Self.wrongPassword, from: "127.0.0.2"))?.json?["errorCode"]?.intValue ?? -1
                    attack.add(code)
                }
            }
        }
        defer { attack.stop = true; attackers.wait() }
        // The attack is under way before the real user logs in.
        #expect(SessionLifetimeTests.waitFor(10) { attack.lock.withLock { attack.codes.values.reduce(0, +) } >= 16 })
        var real: [Int?] = []
        for _ in 0..<8 {
            real.append(try TestClient.post(port: gateway.port, loginBody, from: "127.0.0.1").json?["errorCode"]?.intValue)
        }
        attack.stop = true
        attackers.wait()
        #expect(real.allSatisfy { $0 == 0 }, "real logins: \(real)")
        let codes = attack.lock.withLock { attack.codes }
        #expect(codes[17032] == nil, "a wrong-password login counted against the account: \(codes)")
        #expect(codes[1215, default: 0] > 0, "\(codes)")
        if throttled {
            #expect(codes[17036, default: 0] > 0, "the attacking address was throttled: \(codes)")
            // What the attack cost the upstream: the failures before the throttle, not one per attempt.
            let upstreamRequests = try #require(SessionTests.stubStats(stub)["requests"]?.intValue)
            #expect(upstreamRequests <= 8 + 30, "the upstream saw \(upstreamRequests) requests for \(codes.values.reduce(0, +)) attacking logins")
        }
        #expect(gateway.stderr.contains("login of 'admin' from 127.0.0.2 refused by upstream"))
        #expect(!gateway.stderr.contains("guess"), "a password reached the log")
    }

    @Test func aUsernameWithANewlineCannotForgeALogLine() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { $0["logging"] = ["level": "info"] }
        let forged = #"{"api":"admin","action":"createSession","params":{"username":"x\nFORGED info gateway: session opened","password":"y"}}"#
        #expect(try TestClient.post(port: gateway.port, forged).json?["errorCode"]?.intValue == 1215)
        #expect(SessionLifetimeTests.waitFor(5) { gateway.stderr.contains(#"login of 'x\nFORGED info gateway"#) }, "\(gateway.stderr)")
        #expect(!gateway.stderr.split(separator: "\n").contains { $0.hasPrefix("FORGED") }, "a client split a log line")
    }

    @Test func concurrentCorrectLoginsStayWithinTheLimitExactly() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["workers"] = 2
            config["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerUsername": 7]
            config["sessions"] = ["dataDirectory": (try? Servers.temporaryDirectory()) ?? "data",
                                  "loginThrottle": ["maxLoginsInFlightPerAddress": 1000]]
            config["logging"] = ["level": "info"]
        }
        final class Codes: @unchecked Sendable {
            let lock = NSLock()
            var values: [Int] = []
        }
        let codes = Codes()
        DispatchQueue.concurrentPerform(iterations: 200) { _ in
            let code = (try? TestClient.post(port: gateway.port, loginBody))?.json?["errorCode"]?.intValue ?? -1
            codes.lock.withLock { codes.values.append(code) }
        }
        let admitted = codes.values.filter { $0 == 0 }.count
        #expect(admitted == 7, "\(admitted) sessions for a limit of 7; answers: \(Dictionary(grouping: codes.values, by: { $0 }).mapValues(\.count))")
        #expect(codes.values.allSatisfy { $0 == 0 || $0 == 17032 })
        // The upstream sessions of the surplus logins are closed again.
        #expect(SessionLifetimeTests.waitFor(10) { (try? SessionTests.stubStats(stub)["sessions"]?.intValue) == 7 },
                "upstream sessions: \(String(describing: try? SessionTests.stubStats(stub)["sessions"]))")
    }
}
