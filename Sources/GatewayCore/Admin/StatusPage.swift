import GatewaySystem
import Synchronization

/// The status page at the admin listener's `/`: one self-contained HTML document (no scripts, no
/// external assets), rendered on the server and refreshed by the browser every few seconds.
enum StatusPage {
    static let refreshSeconds = 5

    /// `rates` are per second over the window since the previous sample, when there is one.
    static func html(_ figures: GatewayFigures, rates: RateWindow.Rates?) -> String {
        var page = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta http-equiv="refresh" content="\(refreshSeconds)">
        <link rel="icon" href="data:,">
        <title>FairCom gateway status</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2430;background:#f6f7f9}
        h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
        table{border-collapse:collapse;background:#fff;min-width:24em}
        th,td{border:1px solid #d5d9e0;padding:.3em .7em;text-align:left}th{background:#eceff3}
        td.n{text-align:right;font-variant-numeric:tabular-nums}
        .ok{color:#17702c;font-weight:600}.bad{color:#b3261e;font-weight:600}.unknown{color:#8a6d00;font-weight:600}
        .tiles{display:flex;flex-wrap:wrap;gap:.8em}.tile{background:#fff;border:1px solid #d5d9e0;padding:.6em 1em;min-width:9em}
        .tile b{display:block;font-size:1.5em}
        </style></head><body>
        <h1>FairCom gateway</h1>
        <p>Version \(escape(GatewayVersion.current)) · up \(duration(WallClock.nowSeconds() - figures.startedAtSeconds)) · \(escape(WallClock.logTimestamp())) · refreshes every \(refreshSeconds) s</p>

        """
        let counts = figures.counts
        page += "<div class=\"tiles\">"
        page += tile("requests", "\(counts.totalRequests)", id: "requests-total")
        page += tile("requests/s", rates.map { format($0.requests) } ?? "–", id: "request-rate")
        page += tile("errors/s", rates.map { format($0.errors) } ?? "–", id: "error-rate")
        page += tile("live sessions", "\(figures.sessions?.sessions ?? 0)", id: "sessions-live")
        page += tile("logins", "\(counts.loginsAccepted)", id: "logins-accepted")
        page += tile("failed logins", "\(counts.refusals(.authentication))", id: "logins-failed")
        page += "</div>\n"

        if let tally = figures.sessions {
            page += "<h2>Sessions against their limits</h2>\n<table id=\"limits\"><tr><th>limit</th><th>in use</th><th>allowed</th></tr>"
            page += row(["maxJsonApiSessions", num(tally.sessions + tally.reserved), num(tally.limits.maxSessions)])
            page += row(["maxJsonApiSessionsPerUsername (busiest account)", num(tally.topUsernames.first?.count ?? 0), num(tally.limits.maxPerUsername)])
            page += row(["maxJsonApiSessionsPerIpAddress (busiest address)", num(tally.topAddresses.first?.count ?? 0), num(tally.limits.maxPerAddress)])
            page += "</table>\n"
            page += "<h2>Top accounts</h2>\n" + ranking(tally.topUsernames, "account", id: "top-accounts")
            page += "<h2>Top client addresses</h2>\n" + ranking(tally.topAddresses, "address", id: "top-addresses")
        }

        page += "<h2>Listeners</h2>\n<table id=\"listeners\"><tr><th>name</th><th>address</th><th>TLS</th><th>open</th><th>accepted</th></tr>"
        for listener in figures.listeners {
            page += row([escape(listener.name), escape(listener.address), listener.secure ? "yes" : "no", num(listener.open), num(listener.accepted)])
        }
        page += "</table>\n"

        page += "<h2>Upstreams</h2>\n<table id=\"upstreams\"><tr><th>name</th><th>address</th><th>health</th><th>connections</th><th>queued</th><th>requests</th><th title=\"requests with no answer from it: connection failures and timeouts (an answer it made, a 500 too, is relayed)\">unanswered</th></tr>"
        for upstream in figures.upstreams {
            let health = switch upstream.health {
            case .healthy: "<span class=\"ok\">healthy</span>"
            case .unhealthy: "<span class=\"bad\">down</span>"
            case .unknown: "<span class=\"unknown\">unknown</span>"
            }
            page += row([escape(upstream.name), escape(upstream.address), health, num(upstream.pool.open), num(upstream.pool.waiting),
                         num(upstream.pool.requests), num(upstream.pool.failures)])
        }
        page += "</table>\n"

        page += "<h2>Recent refusals</h2>\n"
        if figures.refusals.isEmpty {
            page += "<p id=\"refusals\">None since the gateway started.</p>\n"
        } else {
            page += "<table id=\"refusals\"><tr><th>time</th><th>client</th><th>account</th><th>code</th><th>reason</th></tr>"
            for refusal in figures.refusals {
                page += row([escape(refusal.timeText), escape(refusal.client), escape(refusal.username ?? ""), num(refusal.errorCode), escape(refusal.reasonText)])
            }
            page += "</table>\n"
        }
        page += "<p>Metrics for Prometheus: <a href=\"/metrics\">/metrics</a> · <a href=\"/ready\">/ready</a> · <a href=\"/stats\">/stats</a></p>\n</body></html>\n"
        return page
    }

    private static func tile(_ label: String, _ value: String, id: String) -> String {
        "<div class=\"tile\"><b id=\"\(id)\">\(escape(value))</b>\(escape(label))</div>"
    }

    private static func ranking(_ entries: [(name: String, count: Int)], _ what: String, id: String) -> String {
        guard !entries.isEmpty else { return "<p id=\"\(id)\">No sessions.</p>\n" }
        var table = "<table id=\"\(id)\"><tr><th>\(what)</th><th>sessions</th></tr>"
        for entry in entries { table += row([escape(entry.name), num(entry.count)]) }
        return table + "</table>\n"
    }

    private static func row(_ cells: [String]) -> String {
        "<tr>" + cells.map { $0.hasPrefix("<td") ? $0 : "<td>\($0)</td>" }.joined() + "</tr>"
    }

    private static func num(_ value: Int) -> String { "<td class=\"n\">\(value)</td>" }

    private static func format(_ rate: Double) -> String {
        rate >= 100 ? String(Int(rate.rounded())) : String(Double(Int(rate * 10)) / 10)
    }

    static func duration(_ seconds: Int) -> String {
        let s = max(0, seconds)
        if s < 120 { return "\(s) s" }
        if s < 7200 { return "\(s / 60) min" }
        if s < 172_800 { return "\(s / 3600) h \(s % 3600 / 60) min" }
        return "\(s / 86400) days"
    }

    /// Usernames and reasons come from clients: everything shown is escaped.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}

/// Request and error rates between the status page's samples, shared by the admin handlers of
/// every loop (each page load may land on any loop).
final class RateWindow: Sendable {
    struct Rates: Sendable { let requests: Double; let errors: Double }
    private struct Sample: Sendable { let milliseconds: Int64; let requests: Int; let errors: Int }
    private let samples = Mutex<[Sample]>([])
    /// Rates are measured over at least this much time, at most `keepMilliseconds`.
    static let minimumMilliseconds: Int64 = 1000
    static let keepMilliseconds: Int64 = 60_000

    func record(requests: Int, errors: Int, now: Int64) -> Rates? {
        samples.withLock { samples in
            samples.removeAll { now - $0.milliseconds > Self.keepMilliseconds }
            let rates = samples.first { now - $0.milliseconds >= Self.minimumMilliseconds }.map { oldest in
                let seconds = Double(now - oldest.milliseconds) / 1000
                return Rates(requests: Double(requests - oldest.requests) / seconds, errors: Double(errors - oldest.errors) / seconds)
            }
            samples.append(Sample(milliseconds: now, requests: requests, errors: errors))
            if samples.count > 64 { samples.removeFirst() }
            return rates
        }
    }
}
