"""bench/run's results as a Markdown table and a PNG chart of the ratios (an SVG drawn here, rendered
by headless Chromium, which the tests already need)."""
import os, subprocess, tempfile

# (label, value of the results, target, whether lower is better)
def ratio(a, b):
    return a / b if b else float("inf")


def targets(r):
    t, idle, s = r["throughput"], r["idle"], r["sessions"]
    g = lambda scenario, peer="nginx", key="cpuUs": t[scenario]["gateway"][key] / t[scenario][peer][key]
    return [
        ("HTTP/1.1 CPU per request vs nginx", g("http1"), 0.9, True),
        ("HTTP/1.1 req/s vs nginx", g("http1", key="rps"), 1.1, False),
        ("HTTP/1.1 p99 vs nginx", g("http1", key="p99"), 1.0, True),
        ("TLS keep-alive CPU per request vs nginx", g("tls-keepalive"), 1.0, True),
        ("HTTP/2 CPU per request vs nginx", g("http2"), 1.0, True),
        ("idle connection memory vs nginx, plain", ratio(idle["plain"]["gateway"], idle["plain"]["nginx"]), 1.0, True),
        ("idle connection memory vs nginx, TLS", ratio(idle["tls"]["gateway"], idle["tls"]["nginx"]), 1.0, True),
        ("1M sessions' memory vs the 300 MiB budget", s["mibPerMillion"] / 300, 1.0, True),
        ("durable createSession vs stub logins", t["createSession"]["gateway"]["rps"] / t["createSession"]["direct"]["rps"], 0.5, False),
    ]


def held(value, target, lower):
    return value <= target if lower else value >= target


def markdown(r):
    dates = r.get("partDates", {})
    when = r["date"] if len(set(dates.values())) <= 1 else "; ".join(f"{part} {date}" for part, date in dates.items())
    lines = [f"Run {when} at {r['commit']} on {r['machine']}; {r['workers']} workers each, medians of "
             f"{r['rounds']} alternating rounds of {r['seconds']} s ({r['minutes']} minutes for a whole run). "
             "CPU is µs per request of the proxy's whole process tree (user + system).", "",
             "| scenario | target | req/s | p99 ms | CPU µs/req | user | sys | CPU vs nginx | req/s vs nginx |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for scenario, rows in r["throughput"].items():
        peer = rows.get("nginx")
        for name, row in rows.items():
            p99 = f"{row['p99']:.2f}" if row["p99"] is not None else "–"
            ratio_cpu = f"{row['cpuUs'] / peer['cpuUs']:.2f}" if peer else "–"
            ratio_rps = f"{row['rps'] / peer['rps']:.2f}" if peer else "–"
            errors = " (" + "; ".join(row["errors"]) + ")" if row["errors"] else ""
            lines.append(f"| {scenario} | {name}{errors} | {row['rps']:,.0f} | {p99} | {row['cpuUs']:.1f} | {row['userUs']:.1f} | "
                         f"{row['sysUs']:.1f} | {ratio_cpu} | {ratio_rps} |")
    idle = r["idle"]
    lines += ["", f"Memory per idle keep-alive connection ({r['idleConnections']:,} connections, each after one request), "
              f"resident bytes: plain gateway {idle['plain']['gateway']:.0f}, nginx {idle['plain']['nginx']:.0f}, "
              f"HAProxy {idle['plain']['haproxy']:.0f}; TLS gateway {idle['tls']['gateway']:.0f}, nginx {idle['tls']['nginx']:.0f}, "
              f"HAProxy {idle['tls']['haproxy']:.0f}.",
              "", f"Live sessions: {r['sessions']['opened']:,} opened, {r['sessions']['bytesPerSession']:.0f} bytes each, "
              f"{r['sessions']['mibPerMillion']:.0f} MiB per million.", "",
              "| target | measured | goal | held |", "|---|---:|---:|---|"]
    for label, value, goal, lower in targets(r):
        lines.append(f"| {label} | {value:.2f} | {'≤' if lower else '≥'} {goal:.2f} | {'yes' if held(value, goal, lower) else 'no'} |")
    return "\n".join(lines) + "\n"


def svg(r):
    rows = targets(r)
    width, left, bar, gap, top = 900, 330, 22, 12, 50
    scale = (width - left - 60) / 2.0  # ratios 0..2
    height = top + len(rows) * (bar + gap) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="DejaVu Sans, sans-serif" font-size="13">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="22" font-size="15" font-weight="bold">Gateway ratios, {r["date"]} ({r["commit"]}); line: goal</text>']
    for i, (label, value, goal, lower) in enumerate(rows):
        y = top + i * (bar + gap)
        colour = "#2e7d32" if held(value, goal, lower) else "#c62828"
        out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{min(value, 2.0) * scale:.1f}" height="{bar}" fill="{colour}"/>')
        out.append(f'<text x="{left + min(value, 2.0) * scale + 6:.1f}" y="{y + 16}">{value:.2f}</text>')
        gx = left + goal * scale
        out.append(f'<line x1="{gx:.1f}" x2="{gx:.1f}" y1="{y - 3}" y2="{y + bar + 3}" stroke="black" stroke-width="2"/>')
    axis = top + len(rows) * (bar + gap) + 5
    for tick in (0, 0.5, 1.0, 1.5, 2.0):
        x = left + tick * scale
        out.append(f'<text x="{x:.1f}" y="{axis + 14}" text-anchor="middle" fill="#555">{tick:.1f}×</text>')
    out.append("</svg>")
    return "\n".join(out), width, height


def chart(r, png_path):
    text, width, height = svg(r)
    with tempfile.TemporaryDirectory(prefix="bench-chart-") as folder:
        page = os.path.join(folder, "chart.html")
        open(page, "w").write(f'<!doctype html><html><body style="margin:0">{text}</body></html>')
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={folder}/profile", f"--screenshot={png_path}", f"--window-size={width},{height}",
                        f"file://{page}"], check=True, capture_output=True, timeout=120)


START, END = "<!-- bench/run results: start -->", "<!-- bench/run results: end -->"


def update_readme(path, markdown_text):
    text = open(path).read()
    if START not in text or END not in text:
        raise SystemExit(f"{path} has no {START} ... {END} block to replace")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    open(path, "w").write(before + START + "\n" + markdown_text + END + after)
