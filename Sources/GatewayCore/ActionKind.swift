/// What the gateway does with an action, decided from its name's bytes without building a string.
/// FairCom's action names are case-insensitive ASCII letters.
enum ActionKind: Equatable {
    case createSession, pingSession, listSessions, describeSessions, deleteSession, alterSession
    /// A db action that reads `databaseName` (and `ownerName` when `readsOwner`) from params.
    case database(readsOwner: Bool)
    /// Anything else: forwarded as it is.
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
        let owner = ActionKind.database(readsOwner: true)
        switch name.count {
        case 10: self = named("altertable") || named("listtables") ? owner : .other
        case 11:
            if named("pingsession") { self = .pingSession } else if named("createtable") || named("deletetable")
                || named("createindex") || named("deleteindex") || named("listindexes") { self = owner } else { self = .other }
        case 12:
            if named("listsessions") { self = .listSessions } else if named("altersession") { self = .alterSession } else { self = .other }
        case 13:
            if named("createsession") { self = .createSession } else if named("deletesession") { self = .deleteSession }
            else if named("insertrecords") || named("updaterecords") || named("deleterecords") || named("rebuildtables")
                || named("gettablestats") { self = owner } else { self = .other }
        case 14: self = named("describetables") ? owner : .other
        case 15: self = named("truncaterecords") || named("getrecordsbyids") ? owner : .other
        case 16:
            if named("describesessions") { self = .describeSessions }
            else if named("runsqlstatements") { self = .database(readsOwner: false) } else { self = .other }
        case 17: self = named("getrecordsbytable") || named("getrecordsbyindex") ? owner : .other
        case 18: self = named("getrecordsusingsql") ? .database(readsOwner: false) : .other
        case 20: self = named("getrecordsinkeyrange") ? owner : .other
        case 23: self = named("getrecordsstartingatkey") ? owner : .other
        case 27: self = named("getrecordsbypartialkeyrange") ? owner : .other
        default: self = .other
        }
    }
}
