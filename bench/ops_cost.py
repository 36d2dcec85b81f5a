#!/usr/bin/env python3
"""What the operations features cost on the forwarding path: CPU time per forwarded request of the
gateway before them (built once from --baseline-rev) and now, with the access log off and on (to a
file), in one run.

wrk -t1 -c32 keep-alive POSTs a getRecordsUsingSQL with a session token through each gateway in
front of the same stub; rounds alternate the gateways. CPU is the gateway process's utime + stime
(all threads, from /proc/PID/stat) over the run, divided by the requests wrk counted. Prints the
medians: user, system and total microseconds per request, and requests per second.

  swift build -c release && bench/ops_cost.py [--rounds 5] [--seconds 5] [--baseline-rev 8bfb725]
"""
import argparse
import os
import statistics
import sys
import tempfile

from benchlib import baseline_binary, require, login, run_wrk, start_gateway, start_stub, stop, tree_cpu

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--baseline-rev", default="8bfb725")
    args = ap.parse_args()
    require("bench/ops_cost.py", ("wrk",))
    old = baseline_binary(args.baseline_rev)
    with tempfile.TemporaryDirectory() as workdir:
        procs = []
        try:
            stub, stub_port = start_stub(2)
            procs.append(stub)

            def without_admin(config):
                config.pop("admin", None)

            def access_log(config):
                config["logging"] = {"level": "warning", "accessLog": True, "accessLogFile": os.path.join(workdir, "access.log")}

            gateways = {}
            for name, binary, tweak in [("before", old, without_admin), ("now", None, None), ("now+accesslog", None, access_log)]:
                proc, ports = start_gateway(workdir, name.replace("+", "-"), stub_port, 2, binary=binary, tweak=tweak)
                procs.append(proc)
                port = ports["plain"]
                gateways[name] = (proc, port, login(port))
            results = {name: [] for name in gateways}
            for name, (proc, port, token) in gateways.items():
                run_wrk(port, 2, 32, env={"BENCH_TOKEN": token}, threads=1)
            for _ in range(args.rounds):
                for name, (proc, port, token) in gateways.items():
                    user0, sys0 = tree_cpu(proc.pid)
                    result = run_wrk(port, args.seconds, 32, env={"BENCH_TOKEN": token}, threads=1)
                    user1, sys1 = tree_cpu(proc.pid)
                    requests = result["requests"]
                    results[name].append({"rps": result["rps"], "user": (user1 - user0) / requests * 1e6,
                                          "sys": (sys1 - sys0) / requests * 1e6})
                    if result["errors"]:
                        print(f"{name}: wrk reported {result['errors']}", file=sys.stderr)
            print(f"{'gateway':16} {'req/s':>9} {'user µs':>8} {'sys µs':>8} {'CPU µs/req':>11}")
            base = None
            for name, runs in results.items():
                rps = statistics.median(r["rps"] for r in runs)
                user = statistics.median(r["user"] for r in runs)
                system = statistics.median(r["sys"] for r in runs)
                total = statistics.median(r["user"] + r["sys"] for r in runs)
                base = base or total
                print(f"{name:16} {rps:9.0f} {user:8.1f} {system:8.1f} {total:11.1f}   ({total / base:.2f}x before)")
        finally:
            stop(procs)


if __name__ == "__main__":
    main()
