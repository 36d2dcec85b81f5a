import GatewayHTTPServer
import GatewayMetrics
import GatewaySessions

/// /metrics: the figures in Prometheus's text format. Labels take only values the gateway bounds
/// (catalog api and action names, listener and upstream names from gateway.json, error codes
/// capped in number): never a username, a token or a client address.
enum MetricsExposition {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    static let prefix = "faircom_gateway_"

    static func text(_ figures: GatewayFigures) -> String {
        var out = PrometheusText()
        let p = prefix
        out.family(p + "build_info", .gauge, help: "The gateway's version.")
        out.sample(p + "build_info", [("version", GatewayVersion.current)], 1)
        out.single(p + "start_time_seconds", .gauge, help: "When the gateway started, in seconds since 1970.", figures.startedAtSeconds)

        out.family(p + "config_reloads_total", .counter, help: "Reloads of gateway.json (SIGHUP, gateway reload), applied or refused.")
        out.sample(p + "config_reloads_total", [("result", "applied")], figures.reloadsApplied)
        out.sample(p + "config_reloads_total", [("result", "refused")], figures.reloadsRefused)
        requests(&out, figures.counts)
        sessions(&out, figures)
        listeners(&out, figures.listeners)
        upstreams(&out, figures.upstreams)
        if let journal = figures.journal { self.journal(&out, journal) }
        out.single(p + "buffered_body_bytes", .gauge, help: "Request body bytes held in memory now (limits.maxBufferedBodyBytes caps them).", figures.bufferedBodyBytes)
        out.single(p + "max_buffered_body_bytes", .gauge, help: "limits.maxBufferedBodyBytes.", figures.maxBufferedBodyBytes)
        return out.text
    }

    private static func requests(_ out: inout PrometheusText, _ counts: MetricsCounts) {
        let p = prefix
        out.family(p + "requests_total", .counter, help: "JSON Action requests answered, by api, action and outcome (ok, error: a FairCom errorCode, http_error: another HTTP status, aborted).")
        for (apiIndex, api) in ActionCatalog.apis.enumerated() {
            for (actionIndex, action) in ActionCatalog.actions.enumerated() {
                for outcome in MetricsCounts.Outcome.allCases {
                    let value = counts.requests[MetricsCounts.requestIndex(api: apiIndex, action: actionIndex, outcome: outcome)]
                    if value > 0 { out.sample(p + "requests_total", [("api", api), ("action", action), ("outcome", outcome.label)], value) }
                }
            }
        }
        out.family(p + "gateway_errors_total", .counter, help: "Errors the gateway answered itself, by FairCom errorCode (\"other\" beyond the first 64 codes).")
        for (code, value) in counts.gatewayErrors.sorted(by: { $0.key < $1.key }) {
            out.sample(p + "gateway_errors_total", [("code", code < 0 ? "other" : String(code))], value)
        }
        out.single(p + "request_duration_seconds", help: "From a complete request to its whole answer, as the gateway sees it.", counts.requestDuration)
        out.single(p + "gateway_duration_seconds", help: "The part of each request's time spent in the gateway rather than upstream.", counts.gatewayDuration)
        out.single(p + "upstream_duration_seconds", help: "From sending a request upstream to its whole answer (logins included).", counts.upstreamDuration)
    }

    private static func sessions(_ out: inout PrometheusText, _ figures: GatewayFigures) {
        let p = prefix, counts = figures.counts
        if let tally = figures.sessions {
            out.single(p + "sessions", .gauge, help: figures.fleet == nil ? "Live sessions." : "Fleet mode: the fleet's sessions this gateway holds in its cache (the fleet's count is in Redis).", tally.sessions)
            out.single(p + "sessions_logging_in", .gauge, help: "Logins authenticated and counted, not yet answered.", tally.reserved)
            out.family(p + "session_limit", .gauge, help: "The jsonActionApiDefaults session limits in force.")
            out.sample(p + "session_limit", [("limit", "maxJsonApiSessions")], tally.limits.maxSessions)
            out.sample(p + "session_limit", [("limit", "maxJsonApiSessionsPerIpAddress")], tally.limits.maxPerAddress)
            out.sample(p + "session_limit", [("limit", "maxJsonApiSessionsPerUsername")], tally.limits.maxPerUsername)
        }
        out.single(p + "logins_accepted_total", .counter, help: "createSession answered with a new session.", counts.loginsAccepted)
        out.family(p + "logins_refused_total", .counter, help: "createSession refused, by reason: a session limit, the login throttle, authentication (failed logins), the upstream, or the request.")
        for reason in MetricsCounts.LoginRefusal.allCases {
            out.sample(p + "logins_refused_total", [("reason", reason.rawValue)], counts.refusals(reason))
        }
        out.single(p + "logins_failed_total", .counter, help: "Logins that failed authentication.", counts.refusals(.authentication))
        out.single(p + "sessions_expired_total", .counter, help: "Sessions ended by their idle timeout.", counts.sessionsExpired)
        out.single(p + "sessions_reconciled_ghosts_total", .counter, help: "Sessions restored from the journal that their upstream no longer knew.", counts.ghostsReconciled)
        out.single(p + "sessions_lost_upstream_total", .counter, help: "Sessions ended because their upstream answered 12031 (it no longer knew them).", counts.sessionsLostUpstream)
        if let fleet = figures.fleet {
            out.single(p + "fleet_redis_available", .gauge, help: "Fleet mode: 1 while Redis answers, 0 while it cannot be reached.", fleet.redisAvailable ? 1 : 0)
            out.single(p + "fleet_gateways", .gauge, help: "Fleet mode: gateways Redis saw report in the last minute.", fleet.gateways)
        }
        out.single(p + "fleet_grace_requests_total", .counter, help: "Fleet mode: requests of known sessions served from the cache while Redis could not be reached.", counts.fleetGraceServed)
        out.single(p + "fleet_store_unavailable_total", .counter, help: "Fleet mode: requests answered 17038 because Redis could not be reached.", counts.fleetStoreUnavailable)
    }

    private static func listeners(_ out: inout PrometheusText, _ listeners: [GatewayFigures.ListenerFigures]) {
        let p = prefix
        out.family(p + "connections_open", .gauge, help: "Client connections open, per listener.")
        for l in listeners { out.sample(p + "connections_open", [("listener", l.name)], l.open) }
        out.family(p + "connections_accepted_total", .counter, help: "Client connections accepted, per listener.")
        for l in listeners { out.sample(p + "connections_accepted_total", [("listener", l.name)], l.accepted) }
        for counter in ListenerStatistics.Counter.allCases {
            let name = p + snakeCase(counter.name) + "_total"
            out.family(name, .counter, help: "\(counter.name), per listener.")
            for l in listeners {
                out.sample(name, [("listener", l.name)], l.counters.first { $0.0 == counter }?.1 ?? 0)
            }
        }
    }

    private static func upstreams(_ out: inout PrometheusText, _ upstreams: [GatewayFigures.UpstreamFigures]) {
        let p = prefix
        out.family(p + "upstream_healthy", .gauge, help: "1 when the upstream is healthy, 0 when it is down or not yet known.")
        for u in upstreams { out.sample(p + "upstream_healthy", [("upstream", u.name)], u.health == .healthy ? 1 : 0) }
        out.family(p + "upstream_connections", .gauge, help: "Pooled connections to the upstream, open (idle included) and idle.")
        for u in upstreams {
            out.sample(p + "upstream_connections", [("upstream", u.name), ("state", "open")], u.pool.open)
            out.sample(p + "upstream_connections", [("upstream", u.name), ("state", "idle")], u.pool.idle)
        }
        out.family(p + "upstream_queue_depth", .gauge, help: "Requests waiting for a pooled connection.")
        for u in upstreams { out.sample(p + "upstream_queue_depth", [("upstream", u.name)], u.pool.waiting) }
        for (name, help, value) in [("upstream_requests_total", "Requests forwarded.", \MetricsCounts.PoolFigures.requests),
                                    ("upstream_retries_total", "Requests sent again on a fresh connection after a kept-alive one had closed.", \.retries),
                                    ("upstream_timeouts_total", "Requests that met a connect or response timeout.", \.timeouts),
                                    ("upstream_failures_total", "Requests that failed upstream (timeouts included).", \.failures)] {
            out.family(p + name, .counter, help: help)
            for u in upstreams { out.sample(p + name, [("upstream", u.name)], u.pool[keyPath: value]) }
        }
    }

    private static func journal(_ out: inout PrometheusText, _ journal: JournalFigures) {
        let p = prefix
        out.single(p + "journal_records_appended_total", .counter, help: "Session records made durable in the journal.", journal.recordsAppended)
        out.single(p + "journal_syncs_total", .counter, help: "Durable appends (one fsync each; records are batched).", journal.batches)
        out.single(p + "journal_write_failures_total", .counter, help: "Appends that failed (a full disk); their logins were refused.", journal.writeFailures)
        out.family(p + "journal_compactions_total", .counter, help: "Journal compactions, by result.")
        out.sample(p + "journal_compactions_total", [("result", "ok")], journal.compactions)
        out.sample(p + "journal_compactions_total", [("result", "failed")], journal.compactionFailures)
        out.single(p + "journal_sync_duration_seconds", help: "The time of each durable append, fsync included.", journal.syncDuration)
    }

    /// "tlsHandshakes" → "tls_handshakes".
    static func snakeCase(_ name: String) -> String {
        var out = ""
        for character in name {
            if character.isUppercase { out += "_" + character.lowercased() } else { out.append(character) }
        }
        return out
    }
}

typealias JournalFigures = JournalStatistics.Figures
