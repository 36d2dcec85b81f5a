import GatewayConfig
import GatewayJSON

/// A session as the fleet stores it in Redis: the journal's "open" record without the upstream
/// token (which is sealed and stored beside it), so both stores read and write one format.
public enum FleetRecord {
    public static func encode(_ session: SessionSnapshot) -> [UInt8] {
        JSONWriter.bytes(.object([
            ("username", .string(session.username)), ("client", .string(session.clientAddress)),
            ("upstream", .string(session.upstream)), ("started", .int(session.startedAt)), ("settings", session.settings.journalValue),
        ]))
    }

    /// The session `record` describes, with its token put back; nil when the record is damaged.
    public static func decode(_ record: [UInt8], digest: TokenDigest, upstreamToken: String, lastAccessedAt: Int?,
                              defaults: JSONActionAPIDefaults) -> SessionSnapshot? {
        guard let value = try? JSONParser.parse(record), let username = value["username"]?.stringValue,
              let client = value["client"]?.stringValue, let upstream = value["upstream"]?.stringValue,
              let started = value["started"]?.intValue,
              let settings = value["settings"].flatMap({ SessionSettings(journalValue: $0, defaults: defaults) }) else { return nil }
        return SessionSnapshot(digest: digest, username: username, clientAddress: client, upstream: upstream,
                               upstreamToken: upstreamToken, settings: settings, startedAt: started,
                               lastAccessedAt: lastAccessedAt.map { max(started, $0) })
    }
}
