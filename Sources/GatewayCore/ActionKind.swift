/// What the gateway does with an action, decided from its name's bytes without building a string.
/// FairCom's action names are case-insensitive ASCII letters.
enum ActionKind: Equatable {
    /// `closeSession` is not a FairCom action, but the sqlalchemy-faircom dialect ends each
    /// connection with it: answered as deleteSession, so its sessions do not leak.
    case createSession, pingSession, listSessions, describeSessions, deleteSession, alterSession
    /// Anything else: forwarded as the client sent it, with only the token swapped.
    case other

    /// The kind of the action whose name is `name` (UTF-8, escapes already decoded), in any case.
    /// A switch on the length and plain byte loops: this runs for every request.
    init(name: UnsafeBufferPointer<UInt8>) {
        func named(_ literal: StaticString) -> Bool {
            // The literals are lowercase letters only, so OR-ing 0x20 folds exactly the uppercase letters.
            guard literal.utf8CodeUnitCount == name.count else { return false }
            let expected = literal.utf8Start
            var i = 0
            while i < name.count, name[i] | 0x20 == expected[i] { i += 1 }
            return i == name.count
        }
        switch name.count {
        case 11: self = named("pingsession") ? .pingSession : .other
        case 12:
            if named("listsessions") { self = .listSessions } else if named("altersession") { self = .alterSession }
            else if named("closesession") { self = .deleteSession } else { self = .other }
        case 13:
            if named("createsession") { self = .createSession } else if named("deletesession") { self = .deleteSession } else { self = .other }
        case 16: self = named("describesessions") ? .describeSessions : .other
        default: self = .other
        }
    }
}
