import Dispatch
import Foundation
import GatewayJSON
import GatewayTestSupport
import Synchronization
import Testing

/// The session rules, end to end: a real gateway in front of a real stub.
@Suite struct SessionTests {
    static func login(_ port: Int, _ params: String = #""username":"admin","password":"ADMIN""#, extra: String = "") throws -> JSONValue {
        try #require(TestClient.post(port: port, #"{"api":"admin","action":"createSession","params":{\#(params)}\#(extra)}"#).json)
    }

    static func call(_ port: Int, _ token: String, _ action: String, _ rest: String = "") throws -> JSONValue {
        try #require(TestClient.post(port: port, #"{"action":"\#(action)","authToken":"\#(token)"\#(rest)}"#).json)
    }

    static func stubStats(_ stub: ServerProcess) throws -> JSONValue {
        try #require(TestClient.get(port: stub.port, "/stub/stats").json)
    }

    @Test func theGatewayIssuesItsOwnTokenAndSwapsItBothWays() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let login = try Self.login(gateway.port, extra: #","requestId":"r1""#)
        #expect(login["errorCode"]?.intValue == 0 && login["requestId"]?.stringValue == "r1")
        let token = try #require(login["authToken"]?.stringValue)
        #expect(token.utf8.count == 64, "384 random bits, base64url")
        #expect(login["result"]?["authToken"]?.stringValue == token)
        let result = try #require(login["result"])
        for key in ["username", "description", "defaultApi", "defaultDebug", "defaultDatabaseName", "defaultOwnerName",
                    "defaultBinaryFormat", "defaultVariantFormat", "defaultResponseOptions", "idleConnectionTimeoutSeconds",
                    "idleCursorTimeoutSeconds", "permanentSession", "sessionStartTimestamp", "sessionLastAccessedTimestamp",
                    "serverVersion", "hostname"] {
            #expect(result[key] != nil, "result lacks \(key)")
        }
        #expect(result["permanentSession"] == .bool(false) && result["idleConnectionTimeoutSeconds"]?.intValue == 3600)

        // The upstream echoes its request (with its own token) in debugInfo; the client sees only the gateway's.
        let echoed = try Self.call(gateway.port, token, "listDatabases", #","debug":"max","requestId":9"#)
        #expect(echoed["errorCode"]?.intValue == 0 && echoed["requestId"]?.intValue == 9)
        #expect(echoed["authToken"]?.stringValue == token)
        #expect(echoed["debugInfo"]?["request"]?["authToken"]?.stringValue == token)
        let text = JSONWriter.string(echoed)
        let otherTokens = text.split(separator: "\"").filter { $0.count >= 40 && !$0.contains(" ") && $0 != token }
        #expect(otherTokens.isEmpty, "a foreign token reached the client: \(otherTokens)")
        // The upstream never saw the gateway token: it would have answered 12031.
        #expect(try Self.call(gateway.port, token, "echo", #","params":{"t":"\#(token)"}"#)["result"]?["t"]?.stringValue == token)
    }

    /// The last request the stub received on /api, as bytes.
    static func lastUpstreamRequest(_ stub: ServerProcess) throws -> String {
        try #require(TestClient.get(port: stub.port, "/stub/requests").json?["requests"]?.arrayValue?.last?.stringValue)
    }

    @Test func theSessionDefaultsLiveInTheUpstreamSessionAndRequestsPassUntouched() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let login = try Self.login(gateway.port, #""username":"admin","password":"ADMIN","defaultApi":"db","defaultDatabaseName":"ctreeSQL","defaultResponseOptions":{"dataFormat":"arrays"}"#)
        let token = try #require(login["authToken"]?.stringValue)
        let upstream = try #require(TestClient.get(port: stub.port, "/stub/sessions").json?["sessions"]?.arrayValue?.first)
        #expect(upstream["settings"]?["defaultDatabaseName"]?.stringValue == "ctreeSQL", "the upstream session got the settings")
        #expect(upstream["settings"]?["defaultResponseOptions"]?["dataFormat"]?.stringValue == "arrays")

        let body = #"{"action":"getRecordsUsingSQL","authToken":"\#(token)","params":{"sql":"select * from athlete"}}"#
        let answer = try #require(TestClient.post(port: gateway.port, body).json)
        #expect(answer["result"]?["dataFormat"]?.stringValue == "arrays", "the upstream applied its session's default")
        let forwarded = try Self.lastUpstreamRequest(stub)
        let upstreamToken = try #require(forwarded.split(separator: "\"").dropFirst(7).first.map(String.init))
        #expect(forwarded == body.replacingOccurrences(of: token, with: upstreamToken), "only the token changed: \(forwarded)")
    }

    @Test func missingUnknownAndMalformedTokensGet12031() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let message = "'authToken' does not match any existing session. Use a valid 'authToken' or use 'createSession' to create a valid 'authToken'."
        for body in [#"{"action":"listDatabases"}"#, #"{"action":"listDatabases","authToken":"nope"}"#,
                     #"{"action":"listDatabases","authToken":"\#(String(repeating: "A", count: 64))","requestId":3}"#,
                     #"{"action":"listSessions","authToken":""}"#] {
            let answer = try #require(TestClient.post(port: gateway.port, body).json)
            #expect(answer["errorCode"]?.intValue == 12031 && answer["errorMessage"]?.stringValue == message, "\(body)")
        }
        #expect(try Self.stubStats(stub)["requests"]?.intValue == 0, "nothing reached the upstream")
    }

    @Test func badRequestsGetTheirOwnErrorAndNeverReachTheUpstream() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let cases: [(String, Int, String)] = [
            ("{not json", 17020, "not valid JSON"), ("[]", 17021, "JSON object"), (#"{"params":{}}"#, 17022, "'action'"),
            (#"{"action":"echo","authToken":1}"#, 17023, "'authToken'"),
            (#"{"action":"createSession","params":{"username":"","password":"x"}}"#, 17023, "'params.username'"),
            (#"{"action":"createSession","params":{"username":"a","password":"x","idleConnectionTimeoutSeconds":"soon"}}"#, 17023, "'params.idleConnectionTimeoutSeconds'"),
            (#"{"action":"createSession","params":{"username":"a","password":"x","defaultBinaryFormat":"octal"}}"#, 17023, "'params.defaultBinaryFormat'"),
            (#"{"action":"createSession","params":{"username":"a"}}"#, 17023, "'params.password'"),
        ]
        for (body, code, text) in cases {
            let response = try TestClient.post(port: gateway.port, body)
            #expect(response.status == 200, "\(body)")
            #expect(response.json?["errorCode"]?.intValue == code, "\(body): \(response.text)")
            #expect(response.json?["errorMessage"]?.stringValue?.contains(text) == true, "\(body): \(response.text)")
        }
        #expect(try Self.stubStats(stub)["requests"]?.intValue == 0)
    }

    @Test func twoHundredConcurrentLoginsAgainstALimitOfSevenYieldSeven() throws {
        let stub = try Servers.stub(["--workers", "2"])
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["workers"] = 2
            config["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerUsername": 7]
            config["logging"] = ["level": "warning"]
        }
        let granted = Atomic<Int>(0), refused = Atomic<Int>(0), other = Atomic<Int>(0)
        let messages = Mutex<Set<String>>([])
        DispatchQueue.concurrentPerform(iterations: 200) { _ in
            guard let answer = try? TestClient.post(port: gateway.port,
                #"{"api":"admin","action":"createSession","params":{"username":"admin","password":"ADMIN"}}"#).json else {
                other.add(1, ordering: .relaxed); return
            }
            switch answer["errorCode"]?.intValue {
            case 0: granted.add(1, ordering: .relaxed)
            case 17032:
                refused.add(1, ordering: .relaxed)
                messages.withLock { _ = $0.insert(answer["errorMessage"]?.stringValue ?? "") }
            default: other.add(1, ordering: .relaxed)
            }
        }
        #expect(granted.load(ordering: .relaxed) == 7)
        #expect(refused.load(ordering: .relaxed) == 193 && other.load(ordering: .relaxed) == 0)
        let message = try #require(messages.withLock { $0.first })
        #expect(message.contains("maxJsonApiSessionsPerUsername") && message.contains("7") && message.contains("gateway.json"))
        #expect(try Self.stubStats(stub)["sessions"]?.intValue == 7, "refused logins never reached the upstream")
    }

    @Test func theTotalAndPerAddressLimitsNameThemselves() throws {
        let stub = try Servers.stub()
        let perAddress = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerIpAddress": 2]
        }
        for _ in 0..<2 { #expect(try Self.login(perAddress.port)["errorCode"]?.intValue == 0) }
        let refused = try Self.login(perAddress.port)
        #expect(refused["errorCode"]?.intValue == 17031)
        #expect(refused["errorMessage"]?.stringValue?.contains("maxJsonApiSessionsPerIpAddress") == true)
        #expect(refused["errorMessage"]?.stringValue?.contains("127.0.0.1") == true)

        let total = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["jsonActionApiDefaults"] = ["maxJsonApiSessions": 1]
        }
        #expect(try Self.login(total.port)["errorCode"]?.intValue == 0)
        let full = try Self.login(total.port)
        #expect(full["errorCode"]?.intValue == 17030 && full["errorMessage"]?.stringValue?.contains("maxJsonApiSessions") == true)
    }

    @Test func forwardedForCountsOnlyFromTrustedProxiesAndExemptAddressesSkipTheLimit() throws {
        let stub = try Servers.stub()
        let data = try Servers.temporaryDirectory()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerIpAddress": 1]
            config["sessions"] = ["dataDirectory": data, "trustedProxies": ["127.0.0.1"],
                                  "exemptAddresses": ["203.0.113.0/24"]]
        }
        func login(forwardedFor: String) throws -> JSONValue? {
            let client = try TestClient(port: gateway.port)
            client.sendPost(#"{"action":"createSession","params":{"username":"admin","password":"ADMIN"}}"#,
                            extraHeaders: "X-Forwarded-For: \(forwardedFor)\r\n")
            return client.readResponse()?.json
        }
        #expect(try login(forwardedFor: "198.51.100.1")?["errorCode"]?.intValue == 0)
        #expect(try login(forwardedFor: "198.51.100.2")?["errorCode"]?.intValue == 0, "a different client behind the proxy")
        let again = try login(forwardedFor: "198.51.100.1")
        #expect(again?["errorCode"]?.intValue == 17031 && again?["errorMessage"]?.stringValue?.contains("198.51.100.1") == true)
        for _ in 0..<3 { #expect(try login(forwardedFor: "203.0.113.9")?["errorCode"]?.intValue == 0, "exempt NAT address") }

        let untrusting = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerIpAddress": 1]
        }
        let client = try TestClient(port: untrusting.port)
        for (index, address) in ["198.51.100.1", "198.51.100.2"].enumerated() {
            client.sendPost(#"{"action":"createSession","params":{"username":"admin","password":"ADMIN"}}"#,
                            extraHeaders: "X-Forwarded-For: \(address)\r\n")
            // Without a trusted proxy the header is ignored: both count against 127.0.0.1.
            #expect(client.readResponse()?.json?["errorCode"]?.intValue == (index == 0 ? 0 : 17031))
        }
    }

    @Test func refusedCredentialsRecordNothing() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerUsername": 1]
        }
        for _ in 0..<3 {
            let refused = try Self.login(gateway.port, #""username":"admin","password":"wrong""#)
            #expect(refused["errorCode"]?.intValue == 1215)
        }
        #expect(try Self.login(gateway.port)["errorCode"]?.intValue == 0, "failed logins gave their places back")
    }
}

/// Upstream tokens of another length than the gateway's change a body's length: small bodies are
/// rewritten whole with a new Content-Length, large ones stream chunked, and neither leaks.
@Suite struct TokenLengthTests {
    @Test(arguments: [24, 120])
    func upstreamTokensOfAnyLengthNeverLeak(tokenBytes: Int) throws {
        let stub = try Servers.stub(["--token-bytes", "\(tokenBytes)"])
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try #require(SessionTests.login(gateway.port)["authToken"]?.stringValue)
        let small = try TestClient.post(port: gateway.port, #"{"action":"echo","authToken":"\#(token)","debug":"max"}"#)
        #expect(small.headers["content-length"] == String(small.body.count))
        #expect(small.json?["authToken"]?.stringValue == token && small.json?["debugInfo"]?["request"]?["authToken"]?.stringValue == token)

        let padding = String(repeating: "x", count: 1_500_000)
        let large = try TestClient.post(port: gateway.port, #"{"action":"echo","authToken":"\#(token)","debug":"max","params":{"pad":"\#(padding)"}}"#)
        #expect(large.status == 200 && large.headers["transfer-encoding"] == "chunked")
        let json = try #require(large.json)
        #expect(json["authToken"]?.stringValue == token && json["debugInfo"]?["request"]?["authToken"]?.stringValue == token)
        #expect(json["result"]?["pad"]?.stringValue?.count == padding.count)
    }
}
