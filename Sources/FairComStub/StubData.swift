import GatewayJSON

/// Canned result sets in FairCom's response shapes.
enum StubData {
    static func field(_ name: String, _ type: String, length: Int? = nil, primaryKey: Int = 0) -> JSONValue {
        .object([
            ("name", .string(name)), ("type", .string(type)), ("length", length.map { .int($0) } ?? .null),
            ("scale", .null), ("defaultValue", .null), ("nullable", .bool(primaryKey == 0)),
            ("primaryKey", .int(primaryKey)), ("autoValue", .string("none")),
        ])
    }

    static let databases: JSONValue = .object([
        ("dataFormat", .string("objects")),
        ("fields", .array([field("databaseName", "varchar", length: 8192), field("path", "varchar", length: 8192), field("uid", "bigint")])),
        ("data", .array([
            .object([("databaseName", .string("ctreeSQL")), ("path", .string(".\\ctreeSQL.dbs\\SQL_SYS")), ("uid", .int(999))]),
            .object([("databaseName", .string("faircom")), ("path", .string(".\\faircom.dbs\\SQL_SYS")), ("uid", .int(1001))]),
        ])),
    ])

    static let athleteRows: [[(String, JSONValue)]] = [
        [("id", .int(1)), ("name", .string("Michael Jordan")), ("ranking", .int(1)), ("earnings", .number("1700000000"))],
        [("id", .int(2)), ("name", .string("Babe Ruth")), ("ranking", .int(2)), ("earnings", .number("800000"))],
        [("id", .int(3)), ("name", .string("Serena Williams")), ("ranking", .int(3)), ("earnings", .number("450000000"))],
    ]

    static func athletes(dataFormat: String) -> JSONValue {
        let arrays = dataFormat == "arrays"
        let rows: [JSONValue] = athleteRows.map { row in arrays ? .array(row.map(\.1)) : .object(row) }
        return .object([
            ("dataFormat", .string(arrays ? "arrays" : "objects")),
            ("numberFormat", .string("number")),
            ("binaryFormat", .string("hex")),
            ("fields", .array([field("id", "bigint", primaryKey: 1), field("name", "varchar", length: 64),
                               field("ranking", "smallint"), field("earnings", "money")])),
            ("data", .array(rows)),
            ("moreRecords", .bool(false)),
            ("requestedRecordCount", .int(-1)),
            ("returnedRecordCount", .int(rows.count)),
            ("totalRecordCount", .int(rows.count)),
        ])
    }

    static func statementResults(_ statements: [JSONValue]) -> JSONValue {
        let reactions: [JSONValue] = statements.map { statement in
            let sql = statement.stringValue ?? ""
            let isQuery = sql.lowercased().hasPrefix("select")
            var members: [(String, JSONValue)] = [("sql", .string(sql)), ("errorCode", .int(0)), ("errorMessage", .string(""))]
            if isQuery {
                members.append(("rows", athletes(dataFormat: "objects")))
            } else {
                members.append(("affectedRecordCount", .int(1)))
            }
            return .object(members)
        }
        return .object([("reactions", .array(reactions))])
    }
}
