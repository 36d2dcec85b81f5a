#!/usr/bin/env python3
"""Fleet mode against single-node mode, in one run on this machine (bench/fleet):

  forward   wrk -t1 -c32 keep-alive, bench/post.lua, on one gateway: alone (its journal on) and as
            one of three fleet gateways sharing a redis-server (append-only file, appendfsync always)
  logins    wrk -c16 createSession (bench/login.lua): one gateway alone (durable journal), and the
            three fleet gateways at once (one wrk each), summed

CPU per request is the gateway's process tree (and, for the fleet, Redis's beside it) over the run,
divided by the requests wrk counted. Rounds alternate; figures are medians. Writes bench/results/fleet.md.

  bench/fleet [--rounds 5] [--seconds 5]
"""
import argparse, datetime, json, os, signal, statistics, subprocess, sys, tempfile, threading, time

import benchlib as b

RESULTS = os.path.join(b.ROOT, "bench", "results")


def start_redis(workdir):
    port = b.free_port()
    folder = os.path.join(workdir, "redis")
    os.makedirs(folder)
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                             "--appendfsync", "always", "--dir", folder, "--logfile", os.path.join(folder, "log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b.wait_port(port)
    return proc, port


def fleet_tweak(redis_port, key_file):
    def tweak(config):
        b.unlimited_sessions(config)
        config["fleet"] = {"redis": f"redis://127.0.0.1:{redis_port}", "tokenKeyFile": key_file}
    return tweak


def measure(proc, run, extra=()):
    before = [b.tree_cpu(p.pid) for p in (proc, *extra)]
    result = run()
    after = [b.tree_cpu(p.pid) for p in (proc, *extra)]
    requests = max(1, result["requests"])
    spent = [(a[0] - s[0] + a[1] - s[1]) / requests * 1e6 for s, a in zip(before, after)]
    result["cpuUs"] = spent[0]
    result["extraUs"] = sum(spent[1:])
    return result


def parallel_wrk(ports, seconds, procs, extra):
    """One wrk per gateway at once; requests and rps summed, CPU of every gateway and of Redis."""
    results = [None] * len(ports)

    def one(i):
        results[i] = b.run_wrk(ports[i], seconds, 16, script="login.lua")
    before = [b.tree_cpu(p.pid) for p in (*procs, *extra)]
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(ports))]
    for t in threads: t.start()
    for t in threads: t.join()
    after = [b.tree_cpu(p.pid) for p in (*procs, *extra)]
    requests = max(1, sum(r["requests"] for r in results))
    cpu = [(a[0] - s[0] + a[1] - s[1]) for s, a in zip(before, after)]
    return {"rps": sum(r["rps"] for r in results), "requests": requests, "p99": max(r["p99"] or 0 for r in results),
            "cpuUs": sum(cpu[:len(procs)]) / requests * 1e6, "extraUs": sum(cpu[len(procs):]) / requests * 1e6,
            "errors": " ".join(r["errors"] for r in results if r["errors"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    b.require("bench/fleet", ("wrk", "redis-server"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/fleet: stopped by SIGTERM"))
    b.raise_open_file_limit()
    procs = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as workdir:
        try:
            key_file = os.path.join(workdir, "fleet.key")
            open(key_file, "w").write(os.urandom(32).hex() + "\n")
            os.chmod(key_file, 0o600)
            stub, stub_port = b.start_stub(args.workers); procs.append(stub)
            redis, redis_port = start_redis(workdir); procs.append(redis)
            single, single_ports = b.start_gateway(workdir, "single", stub_port, args.workers, tweak=b.unlimited_sessions); procs.append(single)
            fleet = []
            for i in range(3):
                proc, ports = b.start_gateway(workdir, f"fleet{i}", stub_port, args.workers, tweak=fleet_tweak(redis_port, key_file))
                procs.append(proc)
                fleet.append((proc, ports["plain"]))
            tokens = {"single": b.login(single_ports["plain"]), "fleet": b.login(fleet[0][1])}
            targets = {"single": (single, single_ports["plain"], ()), "fleet": (fleet[0][0], fleet[0][1], (redis,))}
            for name, (_, port, _) in targets.items():
                assert b.post(port, json.loads(b.POST_BODY.format(token=tokens[name])))["errorCode"] == 0, name
            runs = {("forward", n): [] for n in targets} | {("logins", "single"): [], ("logins", "fleet x3"): []}

            def forward(name, seconds):
                proc, port, extra = targets[name]
                return measure(proc, lambda: b.run_wrk(port, seconds, 32, env={"BENCH_TOKEN": tokens[name]}), extra)

            def logins(name, seconds):
                if name == "single":
                    return measure(single, lambda: b.run_wrk(single_ports["plain"], seconds, 16, script="login.lua"))
                return parallel_wrk([p for _, p in fleet], seconds, [p for p, _ in fleet], (redis,))
            for name in targets: forward(name, 1)
            for name in ("single", "fleet x3"): logins(name, 1)
            for r in range(args.rounds):
                order = ["single", "fleet"] if r % 2 == 0 else ["fleet", "single"]
                for name in order:
                    res = forward(name, args.seconds)
                    runs[("forward", name)].append(res)
                    print(f"round {r + 1} forward {name:8} {res['rps']:8.0f} req/s  CPU {res['cpuUs']:6.1f} µs/req (+Redis {res['extraUs']:.1f}) {res['errors']}", file=sys.stderr, flush=True)
                for name in (["single", "fleet x3"] if r % 2 == 0 else ["fleet x3", "single"]):
                    res = logins(name, args.seconds)
                    runs[("logins", name)].append(res)
                    print(f"round {r + 1} logins  {name:8} {res['rps']:8.0f} /s     CPU {res['cpuUs']:6.1f} µs/login (+Redis {res['extraUs']:.1f}) {res['errors']}", file=sys.stderr, flush=True)
        finally:
            b.stop(procs)
    med = {k: {f: statistics.median(r[f] for r in v) for f in ("rps", "cpuUs", "extraUs")} for k, v in runs.items()}
    f, s = med[("forward", "fleet")], med[("forward", "single")]
    lf, ls = med[("logins", "fleet x3")], med[("logins", "single")]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Fleet mode against single-node mode ({now}, commit "
             f"{subprocess.run(['git', '-C', b.ROOT, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()})", "",
             f"{args.rounds} alternating rounds of {args.seconds} s, medians; {os.cpu_count()} cores shared by wrk, the stub, Redis and the gateways "
             f"({args.workers} workers each); {round((time.monotonic() - started) / 60, 1)} minutes.", "",
             "| scenario | single node | fleet | fleet / single |", "|---|---:|---:|---:|",
             f"| forwarded requests/s (one gateway) | {s['rps']:,.0f} | {f['rps']:,.0f} | {f['rps'] / s['rps']:.2f} |",
             f"| CPU per forwarded request, gateway | {s['cpuUs']:.1f} µs | {f['cpuUs']:.1f} µs | {f['cpuUs'] / s['cpuUs']:.2f} |",
             f"| CPU per forwarded request, Redis | — | {f['extraUs']:.2f} µs | |",
             f"| durable logins/s (single: journal; fleet: three gateways at once) | {ls['rps']:,.0f} | {lf['rps']:,.0f} | {lf['rps'] / ls['rps']:.2f} |",
             f"| CPU per login, gateways | {ls['cpuUs']:.0f} µs | {lf['cpuUs']:.0f} µs | {lf['cpuUs'] / ls['cpuUs']:.2f} |",
             f"| CPU per login, Redis | — | {lf['extraUs']:.0f} µs | |", ""]
    os.makedirs(RESULTS, exist_ok=True)
    open(os.path.join(RESULTS, "fleet.md"), "w").write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
