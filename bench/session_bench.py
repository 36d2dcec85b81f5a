#!/usr/bin/env python3
"""Session engine benchmark, in one run on this machine:

1. Forwarded db action (~300-byte getRecordsUsingSQL, wrk -t2 -c64, keep-alive): this gateway (session
   lookup, token swap, defaults) against the plain-forwarding gateway of the core issue (built from
   --baseline-rev) and nginx. Target: sessions/plain >= 0.95.
2. createSession rate (wrk -c16): through the gateway (limits, upstream login, token, journal fsync)
   against the stub directly.
3. Memory of live sessions: RSS growth of a gateway while 100,000 sessions are opened.

Rounds alternate targets; medians are reported. Usage: bench/session_bench.py [--rounds N] [--seconds S]
"""
import argparse, contextlib, json, os, subprocess, sys, tempfile, time, urllib.request

from benchlib import BIN, ROOT, login, medians, rss_kib, run_wrk, start_gateway, start_nginx, start_stub, stop

BASELINE_DIR = os.path.join(ROOT, ".build-baseline")


def baseline_binary(rev):
    """The core issue's plain-forwarding gateway, built once from `rev` into .build-baseline."""
    binary = os.path.join(BASELINE_DIR, "release", "gateway")
    stamp = os.path.join(BASELINE_DIR, "rev")
    if os.path.exists(binary) and os.path.exists(stamp) and open(stamp).read() == rev:
        return binary
    with tempfile.TemporaryDirectory() as tree:
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, rev], check=True, capture_output=True)
        try:
            print(f"building the plain-forwarding gateway of {rev} ...", file=sys.stderr)
            subprocess.run(["swift", "build", "-c", "release", "--product", "gateway", "--package-path", tree,
                            "--scratch-path", BASELINE_DIR], check=True, capture_output=True)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], capture_output=True)
    open(stamp, "w").write(rev)
    return binary


def unlimited(config):
    config["jsonActionApiDefaults"].update({"maxJsonApiSessions": 10_000_000, "maxJsonApiSessionsPerIpAddress": 10_000_000,
                                            "maxJsonApiSessionsPerUsername": 10_000_000})


def stub_sessions(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stub/stats", timeout=5) as r:
        return json.loads(r.read())["sessions"]


@contextlib.contextmanager
def fresh_stack(workdir, name, workers):
    """A new stub and a gateway (limits lifted) in front of it, stopped afterwards."""
    stub, stub_port = start_stub(workers)
    procs = [stub]
    try:
        gateway, gateway_port = start_gateway(workdir, name, stub_port, workers, tweak=unlimited)
        procs.append(gateway)
        yield stub_port, gateway, gateway_port
    finally:
        stop(procs)


def alternate(results, rounds, runs):
    """Runs each named measurement once per round, in turn, so that machine noise hits all alike."""
    for r in range(rounds):
        for name, run in runs.items():
            res = run()
            results[name].append(res)
            print(f"round {r + 1} {name:14s} {res['rps']:9.0f} req/s p50 {res['p50']:.3f} p99 {res['p99']:.3f} {res['errors']}",
                  file=sys.stderr)


def table(title, med, names):
    print(f"\n{title}\n\n| target | req/s | p50 ms | p99 ms |\n|---|---:|---:|---:|")
    for name in names:
        m = med[name]
        print(f"| {name} | {m['rps']:.0f} | {m['p50']:.3f} | {m['p99']:.3f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-rev", default="898f247")
    ap.add_argument("--sessions", type=int, default=100_000)
    args = ap.parse_args()
    plain_binary = baseline_binary(args.baseline_rev)
    w = args.workers
    with tempfile.TemporaryDirectory() as workdir:
        # Forwarding: plain, sessions and nginx alternate in front of one stub.
        procs = []
        try:
            stub, stub_port = start_stub(w)
            procs.append(stub)
            sessions, sessions_port = start_gateway(workdir, "sessions", stub_port, w, tweak=unlimited)
            plain, plain_port = start_gateway(workdir, "plain", stub_port, w, binary=plain_binary,
                                              tweak=lambda c: c.pop("sessions", None))
            nginx, nginx_port = start_nginx(workdir, stub_port, w)
            procs += [sessions, plain, nginx]
            stub_token = login(stub_port)
            forward = {"sessions": (sessions_port, login(sessions_port)), "plain": (plain_port, stub_token),
                       "nginx": (nginx_port, stub_token)}
            results = {name: [] for name in list(forward) + ["gateway login", "direct login"]}
            for name, (port, token) in forward.items():
                run_wrk(port, 2, 64, env={"BENCH_TOKEN": token})
            alternate(results, args.rounds, {name: (lambda p=port, t=token: run_wrk(p, args.seconds, 64, env={"BENCH_TOKEN": t}))
                                             for name, (port, token) in forward.items()})
        finally:
            stop(procs)

        # createSession: a fresh stub and gateway, so that the sessions piling up here (and the
        # journal compactions they cause) do not weigh on the forwarding figures above.
        with fresh_stack(workdir, "logins", w) as (stub_port, gateway, gateway_port):
            logins = {"gateway login": gateway_port, "direct login": stub_port}
            alternate(results, args.rounds, {name: (lambda p=port: run_wrk(p, max(2, args.seconds // 2), 16, script="login.lua"))
                                             for name, port in logins.items()})

        # Memory: a fresh gateway and stub; RSS after a warm-up, then after --sessions more sessions.
        with fresh_stack(workdir, "memory", w) as (stub_port, gateway, gateway_port):
            run_wrk(gateway_port, 1, 16, script="login.lua")
            time.sleep(0.5)
            before, opened_before = rss_kib(gateway.pid), stub_sessions(stub_port)
            while stub_sessions(stub_port) - opened_before < args.sessions:
                run_wrk(gateway_port, 2, 16, script="login.lua")
            time.sleep(0.5)
            after, opened = rss_kib(gateway.pid), stub_sessions(stub_port) - opened_before

    med = medians(results)
    table(f"Forwarded db action, wrk -t2 -c64 -d{args.seconds}s, keep-alive; medians of {args.rounds} rounds",
          med, ["plain", "sessions", "nginx"])
    s, p, n = med["sessions"], med["plain"], med["nginx"]
    print(f"\nsessions/plain req/s: {s['rps'] / p['rps']:.3f} (target >= 0.95)   sessions/nginx req/s: {s['rps'] / n['rps']:.3f}"
          f"   sessions/nginx p99: {s['p99'] / n['p99']:.2f}")
    table("createSession, wrk -t2 -c16, a new session per request", med, ["gateway login", "direct login"])
    print(f"\ngateway/direct createSession rate: {med['gateway login']['rps'] / med['direct login']['rps']:.3f}")
    per_session = (after - before) * 1024 / max(1, opened)
    print(f"\nMemory: {opened} sessions opened, gateway RSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB; "
          f"{per_session:.0f} bytes per session; 100,000 sessions = {per_session * 100_000 / 1048576:.1f} MiB (target <= 64 MiB)")


if __name__ == "__main__":
    main()
