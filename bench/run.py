#!/usr/bin/env python3
"""Every benchmark scenario, in one run on this machine, side by side with its peers:

  http1              wrk -t1 -c32 keep-alive, the ~300-byte getRecordsUsingSQL POST of bench/post.lua:
                     the stub directly, the gateway, nginx, HAProxy, and the gateway and nginx with
                     their access logs written to a file
  tls-keepalive      the same over TLS (one certificate for all)
  tls-resumed        the same with "Connection: close": a new TLS connection per request, resumed
                     with the ticket or session id wrk kept
  tls-full-handshake parallel `openssl s_time -new`: a full handshake per connection, GET /health
  http2              h2load over TLS, 8 connections of 32 concurrent streams
  createSession      wrk -c16, a new durable session per request, against the stub's own logins
  idle-connections   resident memory per idle keep-alive connection (after one request), plain and TLS
  sessions           the gateway's resident memory growth while --sessions live sessions are opened

Metrics and the admin listener stay on as shipped in gateway.json. For each throughput scenario, CPU
per request is the CPU seconds (user and system, every thread and worker process of the proxy's
tree, from /proc) over the run divided by the requests the load tool counted. Rounds alternate the
targets (their order reversed every other round) so that this noisy machine's drift hits all alike;
each figure is the median of the rounds. Writes bench/results/latest.{md,json,png}.

  bench/run [--rounds 5] [--seconds 5] [--sessions 1000000] [--only throughput idle sessions] [--readme]
"""
import argparse, datetime, json, os, platform, signal, statistics, subprocess, sys, tempfile, time

import benchlib as b
import report

RESULTS = os.path.join(b.ROOT, "bench", "results")
LATEST = os.path.join(RESULTS, "latest.json")
PARTS = ("throughput", "idle", "sessions")
TLS_TARGETS = ["gateway", "nginx", "haproxy"]
THROUGHPUT = {
    "http1": ["direct", "gateway", "nginx", "haproxy", "gateway+accesslog", "nginx+accesslog"],
    "tls-keepalive": TLS_TARGETS, "tls-resumed": TLS_TARGETS, "tls-full-handshake": TLS_TARGETS, "http2": TLS_TARGETS,
    "createSession": ["gateway", "direct"],
}


class Stack:
    """The processes of the run, started once: one stub behind every proxy, a separate stub and
    gateway for logins (so the sessions they pile up weigh on nothing else)."""

    def __init__(self, workdir, workers):
        self.procs, self.targets = [], {}
        try:
            self.start(workdir, workers)
        except BaseException:
            b.stop(self.procs)
            raise

    def start(self, workdir, workers):
        cert = b.make_certificate(workdir)
        stub, stub_port = self.keep(b.start_stub(workers))
        stub_token = b.login(stub_port)
        self.targets["direct"] = (stub, {"plain": stub_port}, stub_token)
        gateway, ports = self.keep(b.start_gateway(workdir, "gateway", stub_port, workers, tls=cert))
        self.targets["gateway"] = (gateway, ports, b.login(ports["plain"]))
        logged, ports = self.keep(b.start_gateway(workdir, "gateway-log", stub_port, workers, tweak=b.access_log_to(workdir, "gateway")))
        self.targets["gateway+accesslog"] = (logged, ports, b.login(ports["plain"]))
        nginx, ports = self.keep(b.start_nginx(workdir, "nginx", stub_port, workers, tls=cert))
        self.targets["nginx"] = (nginx, ports, stub_token)
        nginx_log, ports = self.keep(b.start_nginx(workdir, "nginx-log", stub_port, workers, access_log=True))
        self.targets["nginx+accesslog"] = (nginx_log, ports, stub_token)
        haproxy, ports = self.keep(b.start_haproxy(workdir, "haproxy", stub_port, workers, tls=cert))
        self.targets["haproxy"] = (haproxy, ports, stub_token)
        login_stub, login_stub_port = self.keep(b.start_stub(workers))
        login_gateway, ports = self.keep(b.start_gateway(workdir, "gateway-logins", login_stub_port, workers, tweak=b.unlimited_sessions))
        self.logins = {"gateway": (login_gateway, ports["plain"]), "direct": (login_stub, login_stub_port)}
        self.bodies = {}
        for name, (_, _, token) in self.targets.items():
            path = os.path.join(workdir, f"body-{name.replace('+', '-')}.json")
            open(path, "w").write(b.POST_BODY.format(token=token))
            self.bodies[name] = path
        for name, (_, ports, token) in self.targets.items():  # every target forwards before it is measured
            assert b.post(ports["plain"], json.loads(b.POST_BODY.format(token=token)))["errorCode"] == 0, name

    def keep(self, started):
        self.procs.append(started[0])
        return started

    def measure(self, scenario, name, seconds):
        if scenario == "createSession":
            proc, port = self.logins[name]
            return cpu_of(proc, lambda: b.run_wrk(port, seconds, 16, script="login.lua"))
        proc, ports, token = self.targets[name]
        env = {"BENCH_TOKEN": token}
        if scenario == "http1":
            return cpu_of(proc, lambda: b.run_wrk(ports["plain"], seconds, 32, env=env))
        if scenario == "tls-keepalive":
            return cpu_of(proc, lambda: b.run_wrk(ports["tls"], seconds, 32, env=env, scheme="https"))
        if scenario == "tls-resumed":
            return cpu_of(proc, lambda: b.run_wrk(ports["tls"], seconds, 16, env=env, scheme="https", headers=("Connection: close",)))
        if scenario == "tls-full-handshake":
            return cpu_of(proc, lambda: b.run_s_time(ports["tls"], seconds))
        if scenario == "http2":
            return cpu_of(proc, lambda: b.run_h2load(ports["tls"], seconds, self.bodies[name]))
        raise ValueError(scenario)


def cpu_of(proc, run):
    user0, system0 = b.tree_cpu(proc.pid)
    result = run()
    user1, system1 = b.tree_cpu(proc.pid)
    requests = max(1, result["requests"])
    result["userUs"] = (user1 - user0) / requests * 1e6
    result["sysUs"] = (system1 - system0) / requests * 1e6
    result["cpuUs"] = result["userUs"] + result["sysUs"]
    return result


def run_throughput(stack, rounds, seconds):
    results = {(s, t): [] for s, targets in THROUGHPUT.items() for t in targets}
    for scenario, targets in THROUGHPUT.items():  # warm-up: pools filled, tickets issued, caches warm
        for name in targets:
            stack.measure(scenario, name, 1)
    for r in range(rounds):
        for scenario, targets in THROUGHPUT.items():
            for name in (targets if r % 2 == 0 else list(reversed(targets))):
                res = stack.measure(scenario, name, seconds)
                results[(scenario, name)].append(res)
                p99 = f"{res['p99']:.3f} ms" if res["p99"] is not None else "-"
                print(f"round {r + 1} {scenario:18} {name:18} {res['rps']:9.0f} req/s  p99 {p99:>9}  "
                      f"CPU {res['cpuUs']:6.1f} µs/req (user {res['userUs']:.1f}, sys {res['sysUs']:.1f}) {res['errors']}",
                      file=sys.stderr, flush=True)
    summary = {}
    for (scenario, name), runs in results.items():
        row = {key: statistics.median(r[key] for r in runs) for key in ("rps", "cpuUs", "userUs", "sysUs")}
        p99s = [r["p99"] for r in runs if r["p99"] is not None]
        row["p99"] = statistics.median(p99s) if p99s else None
        row["errors"] = sorted({r["errors"] for r in runs if r["errors"]})
        summary.setdefault(scenario, {})[name] = row
    return summary


def run_idle_connections(workdir, workers, count):
    """Fresh processes for each proxy (a warm one would reuse memory its earlier load freed):
    resident growth per connection while `count` keep-alive connections sit idle after one request."""
    out = {"plain": {}, "tls": {}}
    cert = b.make_certificate(workdir)
    procs = []
    try:
        stub, stub_port = b.start_stub(workers)
        procs.append(stub)
        stub_token = b.login(stub_port)
        for name in TLS_TARGETS:
            for listener in ("plain", "tls"):
                folder = f"idle-{name}-{listener}"
                if name == "gateway":
                    proc, ports = b.start_gateway(workdir, folder, stub_port, workers, tls=cert)
                    token = b.login(ports["plain"])
                else:
                    proc, ports = (b.start_nginx if name == "nginx" else b.start_haproxy)(workdir, folder, stub_port, workers, tls=cert)
                    token = stub_token
                try:
                    body = b.POST_BODY.format(token=token).encode()
                    scheme = "https" if listener == "tls" else "http"
                    b.open_idle_connections(ports[listener], 50, body, scheme=scheme)  # warm: first-use allocations
                    time.sleep(2)
                    before = b.tree_rss_bytes(proc.pid)
                    sockets = b.open_idle_connections(ports[listener], count, body, scheme=scheme)
                    time.sleep(2)  # idle: past the gateway's one-second trim of idle connections' buffers
                    out[listener][name] = (b.tree_rss_bytes(proc.pid) - before) / count
                    for sock in sockets:
                        sock.close()
                finally:
                    b.stop([proc])
                print(f"idle {listener:5} {name:8} {out[listener][name]:7.0f} bytes per connection ({count} connections)",
                      file=sys.stderr, flush=True)
    finally:
        b.stop(procs)
    return out


def run_sessions(workdir, workers, count):
    """A fresh stub and gateway: resident growth while `count` sessions are opened."""
    procs = []
    try:
        stub, stub_port = b.start_stub(workers)
        procs.append(stub)
        gateway, ports = b.start_gateway(workdir, "gateway-sessions", stub_port, workers, tweak=b.unlimited_sessions)
        procs.append(gateway)
        b.run_wrk(ports["plain"], 1, 16, script="login.lua")
        time.sleep(0.5)
        before, opened_before = b.tree_rss_bytes(gateway.pid), stub_sessions(stub_port)
        started = time.monotonic()
        while stub_sessions(stub_port) - opened_before < count:
            b.run_wrk(ports["plain"], 5, 16, script="login.lua")
        elapsed = time.monotonic() - started
        time.sleep(1)
        opened = stub_sessions(stub_port) - opened_before
        grown = b.tree_rss_bytes(gateway.pid) - before
        print(f"sessions: {opened} opened in {elapsed:.0f} s, resident +{grown / 2**20:.1f} MiB", file=sys.stderr, flush=True)
        return {"opened": opened, "bytesPerSession": grown / opened, "mibPerMillion": grown / opened * 1e6 / 2**20}
    finally:
        b.stop(procs)


def stub_sessions(port):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stub/stats", timeout=10) as r:
        return json.loads(r.read())["sessions"]


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = int(open("/proc/meminfo").readline().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--idle-connections", type=int, default=5000)
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS),
                    help="run these parts and keep the others' figures from the last results")
    ap.add_argument("--readme", action="store_true", help="replace the table quoted in README.md with this run's")
    args = ap.parse_args()
    if set(args.only) != set(PARTS) and not os.path.exists(LATEST):
        sys.exit(f"--only {' '.join(args.only)}: there is no {LATEST} from an earlier whole run to take the other parts from")
    b.require("bench/run", ("wrk", "h2load", "nginx", "haproxy", "openssl", "chromium"))
    # A SIGTERM (a timeout, a CI runner) unwinds like Ctrl-C, so every process started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/run: stopped by SIGTERM"))
    b.raise_open_file_limit()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        previous = json.load(open(LATEST)) if os.path.exists(LATEST) and set(args.only) != set(PARTS) else {}
        throughput, idle, sessions = previous.get("throughput"), previous.get("idle"), previous.get("sessions")
        if "throughput" in args.only:
            stack = Stack(workdir, args.workers)
            try:
                throughput = run_throughput(stack, args.rounds, args.seconds)
            finally:
                b.stop(stack.procs)
        if "idle" in args.only:
            idle = run_idle_connections(workdir, args.workers, args.idle_connections)
        if "sessions" in args.only:
            sessions = run_sessions(workdir, args.workers, args.sessions)
        if None in (throughput, idle, sessions):
            sys.exit(f"--only {' '.join(args.only)}: no earlier {LATEST} holds the other parts")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    part_dates = {part: now if part in args.only else previous.get("partDates", {}).get(part, previous.get("date", "?")) for part in PARTS}
    results = {"date": now, "partDates": part_dates, "machine": machine(),
               "rounds": args.rounds, "seconds": args.seconds, "workers": args.workers, "idleConnections": args.idle_connections,
               "commit": subprocess.run(["git", "-C", b.ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
               "throughput": throughput, "idle": idle, "sessions": sessions,
               "minutes": round((time.monotonic() - started) / 60, 1) if set(args.only) == set(PARTS) else previous.get("minutes")}
    os.makedirs(RESULTS, exist_ok=True)
    json.dump(results, open(LATEST, "w"), indent=1)
    markdown = report.markdown(results)
    open(os.path.join(RESULTS, "latest.md"), "w").write(markdown)
    report.chart(results, os.path.join(RESULTS, "latest.png"))
    if args.readme:
        report.update_readme(os.path.join(b.ROOT, "README.md"), markdown)
    print(markdown)


if __name__ == "__main__":
    main()
