import GatewayJSON
import GatewaySystem

/// The JSON Action API as the stub implements it: a few admin and db actions in FairCom's shapes.
struct StubActions {
    let state: StubState
    static let serverVersion = "FairCom Gateway Stub 1.0"
    static let unknownTokenMessage = "'authToken' does not match any existing session. Use a valid 'authToken' or use 'createSession' to create a valid 'authToken'."

    func answer(_ body: [UInt8]) -> FairComEnvelope {
        let request: JSONValue
        do {
            request = try JSONParser.parse(body)
        } catch {
            return FairComEnvelope(errorCode: 12002, errorMessage: "The request is not valid JSON: \(error)")
        }
        guard case .object = request else {
            return FairComEnvelope(errorCode: 12002, errorMessage: "The request must be a JSON object.")
        }
        let requestId = request["requestId"]
        guard let action = request["action"]?.stringValue else {
            return FairComEnvelope(requestId: requestId, errorCode: 12003, errorMessage: "The required property 'action' is missing or not a string.")
        }
        let params = request["params"] ?? .object([])
        let token = request["authToken"]?.stringValue
        var envelope: FairComEnvelope
        switch action.lowercased() {
        case "createsession":
            envelope = createSession(params)
        case "pingsession":
            if let token, !token.isEmpty, state.username(for: token) == nil { envelope = unknownToken(token) } else { envelope = FairComEnvelope(authToken: token) }
        default:
            guard let token, state.username(for: token) != nil else { return withRequestId(unknownToken(token ?? ""), requestId) }
            envelope = sessionAction(action.lowercased(), params: params, request: request, token: token)
        }
        if request["debug"]?.stringValue == "max" {
            envelope.debugInfo = .object([("request", maskingPasswords(request))])
        }
        return withRequestId(envelope, requestId)
    }

    private func withRequestId(_ envelope: FairComEnvelope, _ requestId: JSONValue?) -> FairComEnvelope {
        var envelope = envelope
        envelope.requestId = requestId
        return envelope
    }

    private func unknownToken(_ token: String) -> FairComEnvelope {
        FairComEnvelope(errorCode: 12031, errorMessage: Self.unknownTokenMessage, authToken: token)
    }

    private func sessionAction(_ action: String, params: JSONValue, request: JSONValue, token: String) -> FairComEnvelope {
        switch action {
        case "deletesession":
            _ = state.logout(token)
            return FairComEnvelope(authToken: token)
        case "listdatabases":
            return FairComEnvelope(result: StubData.databases, authToken: token)
        case "getrecordsusingsql":
            let format = request["responseOptions"]?["dataFormat"]?.stringValue ?? params["dataFormat"]?.stringValue ?? "objects"
            return FairComEnvelope(result: StubData.athletes(dataFormat: format), authToken: token)
        case "runsqlstatements":
            let statements = params["sqlStatements"]?.arrayValue ?? []
            return FairComEnvelope(result: StubData.statementResults(statements), authToken: token)
        case "altersession":
            if let cursor = params["idleCursorTimeoutSeconds"]?.intValue { state.alter(token, idleCursorTimeoutSeconds: cursor) }
            return FairComEnvelope(authToken: token)
        case "echo":
            return FairComEnvelope(result: params, authToken: token)
        default:
            return FairComEnvelope(errorCode: 12010, errorMessage: "The action '\(action)' is not implemented by the stub.", authToken: token)
        }
    }

    private func createSession(_ params: JSONValue) -> FairComEnvelope {
        let username = params["username"]?.stringValue ?? ""
        let password = params["password"]?.stringValue ?? ""
        let permanent = params["permanentSession"]?.boolValue ?? false
        if permanent && !state.allowsPermanentSessions {
            return FairComEnvelope(errorCode: 12040, errorMessage: "Permanent sessions are not enabled on this server (enablePermanentJsonApiSessions).")
        }
        let idle = params["idleConnectionTimeoutSeconds"]?.intValue ?? 3600
        let cursor = params["idleCursorTimeoutSeconds"]?.intValue ?? 600
        guard let token = state.login(username: username, password: password, idleConnectionTimeoutSeconds: idle,
                                      idleCursorTimeoutSeconds: cursor, permanent: permanent) else {
            return FairComEnvelope(errorCode: 1215, errorMessage: "Connection pool creation failed - User [\(username)] authentication failed to server [FAIRCOMS]. Please check user, password, and security privileges.")
        }
        let now = WallClock.faircomTimestamp()
        let result: JSONValue = .object([
            ("authToken", .string(token)),
            ("username", .string(username)),
            ("description", params["description"] ?? .string("")),
            ("defaultDatabaseName", params["defaultDatabaseName"] ?? .string("faircom")),
            ("defaultOwnerName", params["defaultOwnerName"] ?? .string(username)),
            ("defaultBinaryFormat", params["defaultBinaryFormat"] ?? .string("hex")),
            ("defaultResponseOptions", params["defaultResponseOptions"] ?? .object([
                ("binaryFormat", .string("hex")), ("dataFormat", .string("objects")), ("numberFormat", .string("number")),
            ])),
            ("idleConnectionTimeoutSeconds", params["idleConnectionTimeoutSeconds"] ?? .int(3600)),
            ("idleCursorTimeoutSeconds", params["idleCursorTimeoutSeconds"] ?? .int(600)),
            ("defaultApi", params["defaultApi"] ?? .string("db")),
            ("defaultDebug", params["defaultDebug"] ?? .string("max")),
            ("permanentSession", params["permanentSession"] ?? .bool(false)),
            ("sessionStartTimestamp", .string(now)),
            ("sessionLastAccessedTimestamp", .string(now)),
            ("serverVersion", .string(Self.serverVersion)),
            ("hostname", .string("faircom-stub")),
        ])
        return FairComEnvelope(result: result, authToken: token)
    }

    /// The request as echoed in debugInfo, with every password replaced.
    private func maskingPasswords(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            return .object(members.map { key, member in
                key == "password" ? (key, .string("********")) : (key, maskingPasswords(member))
            })
        case .array(let elements):
            return .array(elements.map(maskingPasswords))
        default:
            return value
        }
    }
}
