#!/usr/bin/env python3
"""Plain forwarding benchmark: wrk against (a) the stub directly, (b) the gateway in front of the
stub, (c) nginx as a keep-alive reverse proxy in front of the same stub, in one run.

Rounds alternate the three targets so that machine noise hits each alike; the table reports
medians over rounds. Usage: bench/proxy_bench.py [--rounds N] [--seconds S] [--connections C]
"""
import argparse, json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def post(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = {}
    for pct, val, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        lat[pct] = float(val) * UNITS[unit]
    errors = re.search(r"Socket errors:.*", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"),
            "errors": (errors.group(0) if errors else "") + (f" non-2xx={non2xx.group(1)}" if non2xx else "")}


def run_wrk(port, seconds, connections, token, threads=2):
    env = dict(os.environ, BENCH_TOKEN=token)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", os.path.join(ROOT, "bench", "post.lua"), f"http://127.0.0.1:{port}/api"],
                         capture_output=True, text=True, env=env, check=True).stdout
    return parse_wrk(out)


NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  upstream faircom {{ server 127.0.0.1:{stub}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} reuseport;
    location /api {{
      proxy_pass http://faircom;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


def start_stack(workdir, workers):
    procs = []
    stub_port, gw_port, nginx_port = free_port(), free_port(), free_port()
    procs.append(subprocess.Popen([os.path.join(BIN, "faircom-stub"), "--port", str(stub_port), "--workers", str(workers)],
                                  stdout=subprocess.DEVNULL))
    wait_port(stub_port)
    config = json.load(open(os.path.join(ROOT, "gateway.json")))
    config["workers"] = workers
    config["listeners"] = [{"name": "bench", "address": "127.0.0.1", "port": gw_port}]
    config["upstreams"][0]["url"] = f"http://127.0.0.1:{stub_port}/api"
    config["logging"] = {"level": "warning", "accessLog": False}
    path = os.path.join(workdir, "gateway.json")
    json.dump(config, open(path, "w"))
    procs.append(subprocess.Popen([os.path.join(BIN, "gateway"), "--config", path], stdout=subprocess.DEVNULL))
    wait_port(gw_port)
    nginx_dir = os.path.join(workdir, "nginx")
    os.makedirs(nginx_dir, exist_ok=True)
    with open(os.path.join(nginx_dir, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(workers=workers, dir=nginx_dir, stub=stub_port, port=nginx_port))
    procs.append(subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", os.path.join(nginx_dir, "nginx.conf"),
                                   "-p", nginx_dir], stderr=subprocess.DEVNULL))
    wait_port(nginx_port)
    return procs, {"direct": stub_port, "gateway": gw_port, "nginx": nginx_port}


def stop(procs):
    for p in reversed(procs):
        p.send_signal(signal.SIGQUIT if "nginx" in p.args[0] else signal.SIGTERM)
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        procs, ports = start_stack(workdir, args.workers)
        try:
            login = post(ports["direct"], {"api": "admin", "action": "createSession",
                                           "params": {"username": "admin", "password": "ADMIN"}})
            token = login["authToken"]
            check = post(ports["gateway"], {"api": "db", "action": "listDatabases", "authToken": token})
            assert check["errorCode"] == 0, check
            results = {name: [] for name in ports}
            for name, port in ports.items():  # warm-up
                run_wrk(port, 2, args.connections, token)
            for r in range(args.rounds):
                for name, port in ports.items():
                    res = run_wrk(port, args.seconds, args.connections, token)
                    results[name].append(res)
                    print(f"round {r + 1} {name:8s} {res['rps']:10.0f} req/s  p50 {res['p50']:.3f} ms  p99 {res['p99']:.3f} ms {res['errors']}",
                          file=sys.stderr)
        finally:
            stop(procs)
    med = {n: {k: statistics.median(x[k] for x in v) for k in ("rps", "p50", "p99")} for n, v in results.items()}
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
