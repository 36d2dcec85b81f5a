#!/usr/bin/env python3
"""TLS and HTTP/2 benchmark: the gateway's TLS listener against nginx terminating TLS with the
same certificate, both proxying to the same stub (nginx with upstream keep-alive), in one run.

Four workloads, rounds alternating the two targets so machine noise hits both alike:
  h2          h2load over TLS with ALPN h2, many streams per connection (-c 8 -m 32)
  tls-ka      wrk over TLS, HTTP/1.1 keep-alive (-c 64)
  close       wrk over TLS with "Connection: close": a new connection per request; wrk resumes
              the TLS session with a ticket, as real clients do
  handshake   4 parallel `openssl s_time -new`: a full handshake per connection (no resumption),
              then GET /health (answered by the gateway itself, by a `return 200` in nginx)

The first three send the ~300-byte getRecordsUsingSQL POST of bench/post.lua with a session token
(the gateway's own for the gateway, the stub's for nginx) through to the stub.
Target: gateway/nginx >= 0.9 on each.
Usage: bench/tls_bench.py [--rounds N] [--seconds S] [--key rsa|ec]
"""
import argparse, os, re, statistics, subprocess, sys, tempfile, time

from benchlib import login, start_gateway, start_nginx, start_stub, stop, run_wrk

def make_certificate(workdir, key_type):
    cert, key = os.path.join(workdir, "bench.pem"), os.path.join(workdir, "bench.key")
    new_key = ["-newkey", "rsa:2048"] if key_type == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    subprocess.run(["openssl", "req", "-x509", *new_key, "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def body_file(workdir, name, token):
    """bench/post.lua's request body, for h2load."""
    text = ('{"api":"db","action":"getRecordsUsingSQL","apiVersion":"1.0","requestId":"bench-0001",'
            '"params":{"databaseName":"ctreeSQL","sql":"SELECT id, name, ranking, earnings FROM athlete WHERE earnings > 1000000",'
            '"returnCursor":false},"responseOptions":{"dataFormat":"objects","numberFormat":"number"},'
            f'"authToken":"{token}"}}')
    path = os.path.join(workdir, f"{name}.json")
    with open(path, "w") as f:
        f.write(text)
    return path


def run_h2load(port, seconds, data, connections=8, streams=32):
    out = subprocess.run(["h2load", "-D", str(seconds), "--warm-up-time", "1", "-c", str(connections), "-m", str(streams),
                          "-t", "1", "-d", data, "-H", "content-type: application/json", f"https://127.0.0.1:{port}/api"],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out).group(1))
    status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    failed = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    value = mean.group(1) if mean else "0ms"
    unit = re.sub(r"[\d.]", "", value)
    ms = float(re.sub(r"[a-z]", "", value)) * {"us": 1e-3, "ms": 1.0, "s": 1000.0}[unit]
    errors = f"non-2xx={int(status.group(2)) + int(status.group(3)) + int(status.group(4))} failed={failed.group(1)}" if status and failed else "?"
    return {"rps": rps, "p50": ms, "p99": float("nan"), "errors": errors}


def run_s_time(port, seconds, clients=4):
    """Full handshakes per second: `clients` sequential s_time loops in parallel."""
    started = time.monotonic()
    procs = [subprocess.Popen(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds), "-www", "/health"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(clients)]
    total = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 30)
        found = re.search(r"(\d+) connections in ([\d.]+)s;", out)
        if found:
            total += int(found.group(1))
    elapsed = time.monotonic() - started
    return {"rps": total / elapsed, "p50": float("nan"), "p99": float("nan"), "errors": ""}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--key", choices=["rsa", "ec"], default="rsa")
    args = ap.parse_args()
    workloads = ("h2", "tls-ka", "close", "handshake")
    with tempfile.TemporaryDirectory() as workdir:
        cert, key = make_certificate(workdir, args.key)
        procs = []
        try:
            stub, stub_port = start_stub(args.workers)
            procs.append(stub)

            def tls(config):
                config["listeners"][0]["tls"] = {"certificateFilename": cert, "privateKeyFilename": key}
            gateway, gateway_port = start_gateway(workdir, "gateway", stub_port, args.workers, tweak=tls)
            procs.append(gateway)
            nginx, nginx_port = start_nginx(workdir, stub_port, args.workers, cert, key)
            procs.append(nginx)
            stub_token = login(stub_port)
            gateway_token = subprocess.run(
                ["curl", "-sk", "-d", '{"action":"createSession","params":{"username":"admin","password":"ADMIN"}}',
                 f"https://127.0.0.1:{gateway_port}/api"], capture_output=True, text=True, check=True).stdout
            gateway_token = re.search(r'"authToken":"([^"]+)"', gateway_token).group(1)
            targets = {"gateway": (gateway_port, gateway_token), "nginx": (nginx_port, stub_token)}
            data = {name: body_file(workdir, name, token) for name, (_, token) in targets.items()}

            def measure(workload, name, seconds):
                port, token = targets[name]
                if workload == "h2":
                    return run_h2load(port, seconds, data[name])
                if workload == "handshake":
                    return run_s_time(port, seconds)
                headers = ("Connection: close",) if workload == "close" else ()
                connections = 16 if workload == "close" else 64
                return run_wrk(port, seconds, connections, env={"BENCH_TOKEN": token}, scheme="https", headers=headers)

            for workload in workloads:  # warm-up
                for name in targets:
                    measure(workload, name, 2)
            results = {(w, n): [] for w in workloads for n in targets}
            for r in range(args.rounds):
                for workload in workloads:
                    order = list(targets) if r % 2 == 0 else list(reversed(targets))
                    for name in order:
                        res = measure(workload, name, args.seconds)
                        results[(workload, name)].append(res)
                        print(f"round {r + 1} {workload:9s} {name:8s} {res['rps']:10.0f} req/s  p50/mean {res['p50']:.3f} ms  {res['errors']}",
                              file=sys.stderr)
        finally:
            stop(procs)
    print(f"\n{args.key} certificate, {args.workers} workers each, medians of {args.rounds} rounds of {args.seconds} s\n")
    print("| workload | gateway req/s | nginx req/s | gateway/nginx | gateway latency ms | nginx latency ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for workload in workloads:
        g = statistics.median(x["rps"] for x in results[(workload, "gateway")])
        n = statistics.median(x["rps"] for x in results[(workload, "nginx")])
        gl = statistics.median(x["p50"] for x in results[(workload, "gateway")])
        nl = statistics.median(x["p50"] for x in results[(workload, "nginx")])
        print(f"| {workload} | {g:.0f} | {n:.0f} | {g / n:.2f} | {gl:.3f} | {nl:.3f} |")
    print("\nlatency: h2 = h2load's mean time per request; wrk rows = p50; handshake: s_time reports none."
          " Target: gateway/nginx >= 0.90 on each workload.")


if __name__ == "__main__":
    main()
