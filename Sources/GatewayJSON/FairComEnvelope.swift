/// A FairCom JSON Action response: `requestId` (echoed when sent), `result`, `errorCode`, `errorMessage`,
/// and optionally `authToken` and `debugInfo`.
public struct FairComEnvelope: Sendable {
    public var requestId: JSONValue?
    public var result: JSONValue
    /// The result already written as JSON (a session's properties, member by member), sent instead of `result`.
    public var resultJSON: [UInt8]?
    public var errorCode: Int
    public var errorMessage: String
    public var authToken: String?
    public var debugInfo: JSONValue?

    public init(requestId: JSONValue? = nil, result: JSONValue = .object([]), errorCode: Int = 0, errorMessage: String = "",
                authToken: String? = nil, debugInfo: JSONValue? = nil) {
        self.requestId = requestId
        self.result = result
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.authToken = authToken
        self.debugInfo = debugInfo
    }

    public static func error(_ code: GatewayErrorCode, _ message: String, requestId: JSONValue? = nil) -> FairComEnvelope {
        FairComEnvelope(requestId: requestId, errorCode: code.rawValue, errorMessage: message)
    }

    /// The envelope's JSON, written member by member in FairCom's order.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + (resultJSON?.count ?? 128))
        out.append(UInt8(ascii: "{"))
        var first = true
        func key(_ name: StaticString) {
            JSONWriter.writeKey(name, into: &out, first: first)
            first = false
        }
        if let requestId { key("requestId"); JSONWriter.write(requestId, into: &out) }
        if let authToken { key("authToken"); JSONWriter.writeString(authToken, into: &out) }
        // FairCom's error answers carry no result; its successful ones always do, if only {}.
        if let resultJSON {
            key("result")
            out.append(contentsOf: resultJSON)
        } else if errorCode == 0 || result != .object([]) {
            key("result")
            JSONWriter.write(result, into: &out)
        }
        if let debugInfo { key("debugInfo"); JSONWriter.write(debugInfo, into: &out) }
        key("errorCode")
        JSONWriter.writeInt(errorCode, into: &out)
        JSONWriter.writeMember("errorMessage", errorMessage, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The `requestId` of a request body, if the body is a JSON object that has one; never throws.
    public static func requestId(in body: [UInt8]) -> JSONValue? {
        guard let value = try? JSONParser.parse(body) else { return nil }
        return value["requestId"]
    }
}

/// Error codes the gateway itself answers with. FairCom's own codes are used where FairCom has one
/// (12031 for an unknown session); the rest sit in the gateway's range 17000–17999, listed in the README.
public struct GatewayErrorCode: RawRepresentable, Sendable, Equatable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// FairCom: "'authToken' does not match any existing session."
    public static let unknownSession = GatewayErrorCode(rawValue: 12031)
    /// The HTTP request itself was malformed (framing, headers).
    public static let badHTTPRequest = GatewayErrorCode(rawValue: 17000)
    /// The request body exceeds `limits.maxBodyBytes`.
    public static let bodyTooLarge = GatewayErrorCode(rawValue: 17001)
    /// The path is not a JSON Action endpoint.
    public static let notFound = GatewayErrorCode(rawValue: 17002)
    /// A method other than POST on the JSON Action endpoint.
    public static let methodNotAllowed = GatewayErrorCode(rawValue: 17003)
    /// The client was too slow sending its request.
    public static let requestTimeout = GatewayErrorCode(rawValue: 17004)
    /// The listener is at `maxConnections`.
    public static let tooManyConnections = GatewayErrorCode(rawValue: 17005)
    /// The gateway holds `limits.maxBufferedBodyBytes` of request bodies already.
    public static let bodyBudgetExhausted = GatewayErrorCode(rawValue: 17006)
    /// No upstream could be reached (connect refused, reset, closed early, malformed response).
    public static let upstreamUnavailable = GatewayErrorCode(rawValue: 17010)
    /// The upstream did not answer within its timeout.
    public static let upstreamTimeout = GatewayErrorCode(rawValue: 17011)
    /// Every connection to the upstream is busy and the wait queue is full.
    public static let upstreamBusy = GatewayErrorCode(rawValue: 17012)
    /// The gateway is shutting down.
    public static let shuttingDown = GatewayErrorCode(rawValue: 17013)
    /// An admin listener request without the bearer token `admin.bearerToken` asks for.
    public static let unauthorized = GatewayErrorCode(rawValue: 17014)
    /// The session's upstream is down: log in again (createSession) to be placed on a healthy one.
    public static let sessionUpstreamDown = GatewayErrorCode(rawValue: 17015)
    /// The request body is not valid JSON.
    public static let invalidJSON = GatewayErrorCode(rawValue: 17020)
    /// The request body is JSON but not an object.
    public static let notAnObject = GatewayErrorCode(rawValue: 17021)
    /// The request has no `action`, or it is not a string.
    public static let missingAction = GatewayErrorCode(rawValue: 17022)
    /// A property has the wrong type or a value out of range; the message names it.
    public static let invalidProperty = GatewayErrorCode(rawValue: 17023)
    /// A property the gateway reads (action, authToken, api, params, ...) appears more than once.
    public static let duplicateProperty = GatewayErrorCode(rawValue: 17024)
    /// `maxJsonApiSessions` sessions exist already.
    public static let tooManySessions = GatewayErrorCode(rawValue: 17030)
    /// The client address has `maxJsonApiSessionsPerIpAddress` sessions already.
    public static let tooManySessionsForAddress = GatewayErrorCode(rawValue: 17031)
    /// The account has `maxJsonApiSessionsPerUsername` sessions already.
    public static let tooManySessionsForUsername = GatewayErrorCode(rawValue: 17032)
    /// `permanentSession: true` while `enablePermanentJsonApiSessions` is false.
    public static let permanentSessionsDisabled = GatewayErrorCode(rawValue: 17033)
    /// The session could not be recorded durably (journal write failed).
    public static let sessionStoreFailed = GatewayErrorCode(rawValue: 17034)
    /// createSession on a listener with `usernameMustMatchCertificate`: the username is not the certificate's CN.
    public static let certificateMismatch = GatewayErrorCode(rawValue: 17035)
    /// Too many failed logins from the client address, or of the account from it: retry later.
    public static let loginThrottled = GatewayErrorCode(rawValue: 17036)
    /// The client address has `maxLoginsInFlightPerAddress` logins being authenticated already.
    public static let tooManyLoginsInFlight = GatewayErrorCode(rawValue: 17037)
    /// Fleet mode: the shared session store (Redis) cannot be reached now; retry shortly.
    public static let sessionStoreUnavailable = GatewayErrorCode(rawValue: 17038)
}
