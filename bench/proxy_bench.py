#!/usr/bin/env python3
"""Forwarding benchmark: wrk against (a) the stub directly, (b) the gateway in front of the stub
(with its session lookup and token swap, as every request has it), (c) nginx as a keep-alive
reverse proxy in front of the same stub, in one run.

Rounds alternate the three targets so that machine noise hits each alike; the table reports
medians over rounds. Usage: bench/proxy_bench.py [--rounds N] [--seconds S] [--connections C]
"""
import argparse, sys, tempfile

from benchlib import login, medians, run_wrk, start_gateway, start_nginx, start_stub, stop, post


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        procs = []
        try:
            stub, stub_port = start_stub(args.workers)
            procs.append(stub)
            gateway, gateway_port = start_gateway(workdir, "gateway", stub_port, args.workers)
            procs.append(gateway)
            nginx, nginx_port = start_nginx(workdir, stub_port, args.workers)
            procs.append(nginx)
            ports = {"direct": stub_port, "gateway": gateway_port, "nginx": nginx_port}
            stub_token, gateway_token = login(stub_port), login(gateway_port)
            tokens = {"direct": stub_token, "nginx": stub_token, "gateway": gateway_token}
            check = post(gateway_port, {"api": "db", "action": "listDatabases", "authToken": gateway_token})
            assert check["errorCode"] == 0, check
            results = {name: [] for name in ports}
            for name, port in ports.items():  # warm-up
                run_wrk(port, 2, args.connections, env={"BENCH_TOKEN": tokens[name]})
            for r in range(args.rounds):
                for name, port in ports.items():
                    res = run_wrk(port, args.seconds, args.connections, env={"BENCH_TOKEN": tokens[name]})
                    results[name].append(res)
                    print(f"round {r + 1} {name:8s} {res['rps']:10.0f} req/s  p50 {res['p50']:.3f} ms  p99 {res['p99']:.3f} ms {res['errors']}",
                          file=sys.stderr)
        finally:
            stop(procs)
    med = medians(results)
    print(f"\nwrk -t2 -c{args.connections} -d{args.seconds}s, ~300-byte JSON POST, keep-alive; medians of {args.rounds} rounds\n")
    print("| target | req/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for name in ("direct", "gateway", "nginx"):
        m = med[name]
        print(f"| {name} | {m['rps']:.0f} | {m['p50']:.3f} | {m['p99']:.3f} |")
    g, n, d = med["gateway"], med["nginx"], med["direct"]
    print(f"\ngateway/nginx req/s: {g['rps'] / n['rps']:.2f}   gateway/direct req/s: {g['rps'] / d['rps']:.2f}")
    print(f"gateway/nginx p99: {g['p99'] / n['p99']:.2f}   (target: req/s ratio >= 0.90, p99 ratio <= 1.00)")


if __name__ == "__main__":
    main()
