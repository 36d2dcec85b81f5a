/// The FairCom APIs and actions the gateway names in its metrics. Metric labels must stay few
/// whatever clients send, so an action is labelled by its catalog name or "other", never by the
/// client's string; a lookup compares bytes in place and builds no string.
enum ActionCatalog {
    static let apis = ["admin", "db", "hub", "mq", "other"]
    static var otherAPI: Int { apis.count - 1 }

    static let actions = [
        // admin
        "createSession", "deleteSession", "pingSession", "listSessions", "describeSessions", "alterSession",
        "closeSession", "getSessionInfo", "describeServices", "listServices", "manageService",
        // db
        "listDatabases", "createDatabase", "deleteDatabase", "listTables", "createTable", "deleteTable",
        "describeTables", "alterTable", "rebuildTables", "truncateTable", "listIndexes", "createIndex",
        "deleteIndex", "describeIndexes", "rebuildIndexes", "getRecordsByIds", "getRecordsByIndex",
        "getRecordsByPartialKeyRange", "getRecordsInKeyRange", "getRecordsStartingAtKey", "getRecordsByTable",
        "getRecordsUsingSQL", "getRecordsFromCursor", "closeCursor", "insertRecords", "updateRecords",
        "deleteRecords", "runSqlStatements", "createTransaction", "commitTransaction", "rollbackTransaction",
        "listTransactions", "createTransactionSavepoint", "revertTransactionToSavepoint", "describeCursors",
        "createCodePackage", "listCodePackages", "runCodePackage",
        // hub and mq
        "createIntegrationTable", "listIntegrationTables", "describeIntegrationTables", "alterIntegrationTable",
        "deleteIntegrationTables", "createInput", "listInputs", "describeInputs", "deleteInput",
        "createOutput", "listOutputs", "deleteOutput", "publishMessagesToTopic", "subscribeToTopic",
        "listTopics", "describeTopics", "getMessagesFromTopic",
        "other",
    ]
    static var otherAction: Int { actions.count - 1 }

    private static let actionsByLength = index(actions.dropLast())
    private static let apisByLength = index(apis.dropLast())

    /// Candidates by name length (an array, not a dictionary: no hashing per request).
    private static func index<S: Sequence>(_ names: S) -> [[(bytes: [UInt8], index: Int)]] where S.Element == String {
        var table: [[(bytes: [UInt8], index: Int)]] = Array(repeating: [], count: 64)
        for (index, name) in names.enumerated() {
            let lower = Array(name.lowercased().utf8)
            guard lower.count < table.count, !table[lower.count].contains(where: { $0.bytes == lower }) else { continue }
            table[lower.count].append((lower, index))
        }
        return table
    }

    /// The catalog index of an action name (any case), or `otherAction`.
    static func action(_ name: UnsafeRawBufferPointer) -> Int { find(name, in: actionsByLength) ?? otherAction }

    static func api(_ name: UnsafeRawBufferPointer) -> Int { find(name, in: apisByLength) ?? otherAPI }

    private static func find(_ name: UnsafeRawBufferPointer, in table: [[(bytes: [UInt8], index: Int)]]) -> Int? {
        guard name.count < table.count else { return nil }
        for candidate in table[name.count] {
            var i = 0
            // Catalog names are ASCII letters; OR-ing 0x20 folds only uppercase letters onto them.
            while i < name.count, name[i] | 0x20 == candidate.bytes[i] { i += 1 }
            if i == name.count { return candidate.index }
        }
        return nil
    }
}
