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
            // As FairCom does: the request's responseOptions, else the session's defaultResponseOptions.
            let format = request["responseOptions"]?["dataFormat"]?.stringValue
                ?? state.session(for: token)?.setting("defaultResponseOptions")?["dataFormat"]?.stringValue
                ?? params["dataFormat"]?.stringValue ?? "objects"
            return FairComEnvelope(result: StubData.athletes(dataFormat: format), authToken: token)
        case "runsqlstatements":
            let statements = params["sqlStatements"]?.arrayValue ?? []
            return FairComEnvelope(result: StubData.statementResults(statements), authToken: token)
        case "altersession":
            let settings = (params.objectValue ?? []).filter { Self.settingKeys.contains($0.0) && $0.1 != .null }
            _ = state.alter(token, settings: settings)
            return FairComEnvelope(result: describe(token: token), authToken: token)
        case "echo":
            return FairComEnvelope(result: params, authToken: token)
        default:
            return FairComEnvelope(errorCode: 12010, errorMessage: "The action '\(action)' is not implemented by the stub.", authToken: token)
        }
    }

    /// The settings a session keeps from createSession or alterSession params.
    static let settingKeys: Set<String> = [
        "description", "defaultApi", "defaultDebug", "defaultDatabaseName", "defaultOwnerName", "defaultBinaryFormat",
        "defaultVariantFormat", "defaultResponseOptions", "idleCursorTimeoutSeconds",
        "defaultRetentionPolicy", "defaultRetentionUnit", "defaultRetentionPeriod",
    ]

    private func createSession(_ params: JSONValue) -> FairComEnvelope {
        let username = params["username"]?.stringValue ?? ""
        let password = params["password"]?.stringValue ?? ""
        let permanent = params["permanentSession"]?.boolValue ?? false
        if permanent && !state.allowsPermanentSessions {
            return FairComEnvelope(errorCode: 12040, errorMessage: "Permanent sessions are not enabled on this server (enablePermanentJsonApiSessions).")
        }
        if state.maxSessionsPerAddress > 0 && state.sessionCount >= state.maxSessionsPerAddress {
            // The stub's stand-in for FairCom's own limit (its real code and wording are not published).
            return FairComEnvelope(errorCode: 12034, errorMessage: "Too many sessions for this IP address: the maximum of \(state.maxSessionsPerAddress) sessions per IP address has been reached.")
        }
        let idle = params["idleConnectionTimeoutSeconds"]?.intValue ?? 3600
        let cursor = params["idleCursorTimeoutSeconds"]?.intValue ?? 600
        let settings = (params.objectValue ?? []).filter { Self.settingKeys.contains($0.0) && $0.1 != .null }
        guard let token = state.login(username: username, password: password, idleConnectionTimeoutSeconds: idle,
                                      idleCursorTimeoutSeconds: cursor, permanent: permanent, settings: settings) else {
            return FairComEnvelope(errorCode: 1215, errorMessage: "Connection pool creation failed - User [\(username)] authentication failed to server [FAIRCOMS]. Please check user, password, and security privileges.")
        }
        return FairComEnvelope(result: describe(token: token), authToken: token)
    }

    /// A session as FairCom's current servers describe it (the createSession seed's shape); what
    /// the session was not given takes FairCom's defaults, the owner being the account itself.
    private func describe(token: String) -> JSONValue {
        guard let session = state.session(for: token) else { return .object([]) }
        let now = WallClock.faircomTimestamp()
        func value(_ key: String, _ fallback: JSONValue) -> JSONValue { session.setting(key) ?? fallback }
        return .object([
            ("authToken", .string(token)),
            ("username", .string(session.username)),
            ("description", value("description", .string(""))),
            ("defaultDatabaseName", value("defaultDatabaseName", .string("faircom"))),
            ("defaultOwnerName", value("defaultOwnerName", .string(session.username))),
            ("defaultBinaryFormat", value("defaultBinaryFormat", .string("hex"))),
            ("defaultVariantFormat", value("defaultVariantFormat", .string("json"))),
            ("defaultStringFormat", .string("json")),
            ("defaultFixedLengthCharFormat", .string("sql")),
            ("defaultResponseOptions", value("defaultResponseOptions", .object([
                ("binaryFormat", .string("hex")), ("dataFormat", .string("objects")), ("numberFormat", .string("number")),
            ]))),
            ("idleConnectionTimeoutSeconds", .int(session.permanentSession ? -1 : session.idleConnectionTimeoutSeconds)),
            ("idleCursorTimeoutSeconds", .int(session.idleCursorTimeoutSeconds)),
            ("defaultApi", value("defaultApi", .string("db"))),
            ("defaultDebug", value("defaultDebug", .string("max"))),
            ("transformBufferInitialBytes", .int(0)),
            ("permanentSession", .bool(session.permanentSession)),
            ("sessionStartTimestamp", .string(now)),
            ("sessionLastAccessedTimestamp", .string(now)),
            ("defaultRetentionPolicy", value("defaultRetentionPolicy", .string("autoPurge"))),
            ("defaultRetentionUnit", value("defaultRetentionUnit", .string("week"))),
            ("defaultRetentionPeriod", value("defaultRetentionPeriod", .int(4))),
            ("serverVersion", .string(Self.serverVersion)),
            ("hostname", .string("faircom-stub")),
            ("hostUuid", .string(state.hostUuid)),
        ])
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
