import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// Redis, a stub and several gateways in fleet mode, each a real process on loopback.
final class FleetUnderTest: @unchecked Sendable {
    let redis: RedisServer
    let stub: ServerProcess
    private(set) var gateways: [ServerProcess] = []
    private(set) var configPaths: [String] = []
    let keyFile: String

    static let accounts = (1...40).map { "user\($0)" } + ["admin"]

    init(count: Int = 3, redis: RedisServer? = nil, tweak: @escaping (inout [String: Any]) -> Void = { _ in },
         fleet: @escaping (inout [String: Any]) -> Void = { _ in }) throws {
        self.redis = try redis ?? RedisServer()
        let accountsFile = try Servers.temporaryDirectory() + "/accounts.json"
        let accounts = Dictionary(uniqueKeysWithValues: Self.accounts.map { ($0, $0 == "admin" ? "ADMIN" : $0.uppercased()) })
        try JSONSerialization.data(withJSONObject: accounts).write(to: URL(fileURLWithPath: accountsFile))
        stub = try Servers.stub(["--accounts", accountsFile])
        keyFile = try Servers.temporaryDirectory() + "/fleet.key"
        try (SecureRandomHex.bytes(32) + "\n").write(toFile: keyFile, atomically: false, encoding: .utf8)
        chmod(keyFile, 0o600)
        for _ in 0..<count { try addGateway(tweak: tweak, fleet: fleet) }
    }

    func configuration(tweak: (inout [String: Any]) -> Void, fleet: (inout [String: Any]) -> Void) throws -> String {
        let redisPort = redis.port, keyFile = self.keyFile
        return try Servers.gatewayConfig(upstreamPorts: [stub.port]) { config in
            config["sessions"] = nil
            config["workers"] = 2
            var section: [String: Any] = ["redis": "redis://127.0.0.1:\(redisPort)", "tokenKeyFile": keyFile,
                                          "touchIntervalSeconds": 0.2, "commandTimeoutSeconds": 0.3, "breakerOpenSeconds": 0.3]
            fleet(&section)
            config["fleet"] = section
            tweak(&config)
        }
    }

    @discardableResult
    func addGateway(tweak: (inout [String: Any]) -> Void = { _ in }, fleet: (inout [String: Any]) -> Void = { _ in }) throws -> ServerProcess {
        let path = try configuration(tweak: tweak, fleet: fleet)
        let gateway = try Servers.gateway(configPath: path)
        gateways.append(gateway)
        configPaths.append(path)
        return gateway
    }

    /// Kills gateway `index` and starts it again on the same configuration.
    func restartGateway(_ index: Int) throws {
        gateways[index].kill()
        gateways[index] = try Servers.gateway(configPath: configPaths[index])
    }

    var ports: [Int] { gateways.map(\.port) }

    func login(_ port: Int, user: String = "admin", extra: String = "", from address: String? = nil) throws -> JSONValue {
        let password = user == "admin" ? "ADMIN" : user.uppercased()
        let body = #"{"api":"admin","action":"createSession","params":{"username":"\#(user)","password":"\#(password)"\#(extra)}}"#
        return try #require(TestClient.post(port: port, body, from: address).json)
    }

    /// A session to work with. 17038 is the fleet's "retry shortly" (a loaded test run can keep
    /// Redis past the 0.3 s command timeout): retried for a few seconds, as a client is told to.
    func token(_ port: Int, user: String = "admin", extra: String = "") throws -> String {
        var answer = try login(port, user: user, extra: extra)
        let deadline = Date().addingTimeInterval(5)
        while answer["errorCode"]?.intValue == 17038 && Date() < deadline {
            answer = try login(port, user: user, extra: extra)
        }
        return try #require(answer["authToken"]?.stringValue, "login failed: \(answer)")
    }

    func call(_ port: Int, _ token: String, _ action: String, _ rest: String = "") throws -> TestResponse {
        try TestClient.post(port: port, #"{"api":"admin","action":"\#(action)","authToken":"\#(token)"\#(rest)}"#)
    }

    func errorCode(_ port: Int, _ token: String, _ action: String = "pingSession", _ rest: String = "") throws -> Int? {
        try call(port, token, action, rest).json?["errorCode"]?.intValue
    }

    /// The upstream's requests the stub saw, newest last.
    func upstreamRequests() throws -> [String] {
        try #require(TestClient.get(port: stub.port, "/stub/requests").json?["requests"]?.arrayValue).compactMap(\.stringValue)
    }

    func upstreamSessionCount() throws -> Int {
        try #require(TestClient.get(port: stub.port, "/stub/stats").json?["sessions"]?.intValue)
    }

    static func waitFor(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        try SessionLifetimeTests.waitFor(seconds, condition)
    }
}

enum SecureRandomHex {
    static func bytes(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
