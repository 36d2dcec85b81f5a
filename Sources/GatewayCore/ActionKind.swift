/// What the gateway does with an action, decided from its name's bytes without building a string.
/// FairCom's action names are case-insensitive ASCII letters.
enum ActionKind: Equatable {
    case createSession, pingSession, listSessions, describeSessions, deleteSession, alterSession
    /// A db action that reads `databaseName` (and `ownerName` when `readsOwner`) from params.
    case database(readsOwner: Bool)
    /// Anything else: forwarded as it is.
    case other

    private static let names: [(StaticString, ActionKind)] = [
        ("createsession", .createSession), ("pingsession", .pingSession), ("listsessions", .listSessions),
        ("describesessions", .describeSessions), ("deletesession", .deleteSession), ("altersession", .alterSession),
        ("getrecordsusingsql", .database(readsOwner: false)), ("runsqlstatements", .database(readsOwner: false)),
        ("createtable", .database(readsOwner: true)), ("altertable", .database(readsOwner: true)),
        ("deletetable", .database(readsOwner: true)), ("listtables", .database(readsOwner: true)),
        ("describetables", .database(readsOwner: true)), ("insertrecords", .database(readsOwner: true)),
        ("updaterecords", .database(readsOwner: true)), ("deleterecords", .database(readsOwner: true)),
        ("truncaterecords", .database(readsOwner: true)), ("getrecordsbyids", .database(readsOwner: true)),
        ("getrecordsbytable", .database(readsOwner: true)), ("getrecordsbyindex", .database(readsOwner: true)),
        ("getrecordsstartingatkey", .database(readsOwner: true)), ("getrecordsinkeyrange", .database(readsOwner: true)),
        ("getrecordsbypartialkeyrange", .database(readsOwner: true)), ("createindex", .database(readsOwner: true)),
        ("deleteindex", .database(readsOwner: true)), ("listindexes", .database(readsOwner: true)),
        ("rebuildtables", .database(readsOwner: true)), ("gettablestats", .database(readsOwner: true)),
    ]

    /// The kind of the action whose name is `name` (UTF-8, escapes already decoded), in any case.
    init(name: UnsafeBufferPointer<UInt8>) {
        for (literal, kind) in Self.names where literal.utf8CodeUnitCount == name.count {
            // The literals are lowercase letters only, so OR-ing 0x20 folds exactly the uppercase letters.
            var i = 0
            while i < name.count, name[i] | 0x20 == literal.utf8Start[i] { i += 1 }
            if i == name.count {
                self = kind
                return
            }
        }
        self = .other
    }
}
