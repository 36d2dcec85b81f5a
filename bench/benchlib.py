"""Shared pieces of the benchmarks: processes on free ports, wrk runs and their parsing, nginx as a peer."""
import json, os, re, shutil, signal, socket, statistics, subprocess, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
LOGIN = {"api": "admin", "action": "createSession", "params": {"username": "admin", "password": "ADMIN"}}


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


def login(port):
    answer = post(port, LOGIN)
    assert answer["errorCode"] == 0, answer
    return answer["authToken"]


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = {}
    for pct, val, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        lat[pct] = float(val) * UNITS[unit]
    errors = re.search(r"Socket errors:.*", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"),
            "errors": (errors.group(0) if errors else "") + (f" non-2xx={non2xx.group(1)}" if non2xx else "")}


def run_wrk(port, seconds, connections, script="post.lua", env=None, threads=2, scheme="http", headers=()):
    env = dict(os.environ, **(env or {}))
    extra = [arg for header in headers for arg in ("-H", header)]
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", *extra,
                          "-s", os.path.join(ROOT, "bench", script), f"{scheme}://127.0.0.1:{port}/api"],
                         capture_output=True, text=True, env=env, check=True).stdout
    return parse_wrk(out)


def medians(results):
    return {name: {k: statistics.median(x[k] for x in runs) for k in ("rps", "p50", "p99")} for name, runs in results.items()}


def start_stub(workers):
    port = free_port()
    proc = subprocess.Popen([os.path.join(BIN, "faircom-stub"), "--port", str(port), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def start_gateway(workdir, name, stub_port, workers, binary=None, tweak=None):
    """A gateway from the repository's gateway.json, on a free port, in front of the stub."""
    port = free_port()
    config = json.load(open(os.path.join(ROOT, "gateway.json")))
    config["workers"] = workers
    config["listeners"] = [{"name": "bench", "address": "127.0.0.1", "port": port}]
    config["upstreams"][0]["url"] = f"http://127.0.0.1:{stub_port}/api"
    config["logging"] = {"level": "warning", "accessLog": False}
    if "admin" in config:
        config["admin"]["port"] = free_port()  # as shipped, on a port of its own
    if "sessions" in config:
        config["sessions"]["dataDirectory"] = os.path.join(workdir, f"data-{name}")
    if tweak:
        tweak(config)
    path = os.path.join(workdir, f"{name}.json")
    json.dump(config, open(path, "w"))
    proc = subprocess.Popen([binary or os.path.join(BIN, "gateway"), "--config", path], stdout=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


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
    listen 127.0.0.1:{port}{tls_listen} reuseport;
{tls}
    location = /health {{ return 200 '{{"status":"ok"}}'; }}
    location /api {{
      proxy_pass http://faircom;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""

NGINX_TLS = """    http2_max_requests 1000000;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;"""


def start_nginx(workdir, stub_port, workers, cert=None, key=None):
    """nginx as a keep-alive reverse proxy in front of the stub; with cert and key, over TLS and HTTP/2."""
    port = free_port()
    nginx_dir = os.path.join(workdir, "nginx")
    os.makedirs(nginx_dir, exist_ok=True)
    tls = NGINX_TLS.format(cert=cert, key=key) if cert else ""
    with open(os.path.join(nginx_dir, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(workers=workers, dir=nginx_dir, stub=stub_port, port=port,
                                  tls_listen=" ssl http2" if cert else "", tls=tls))
    proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", os.path.join(nginx_dir, "nginx.conf"),
                             "-p", nginx_dir], stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def stop(procs):
    for p in reversed(procs):
        p.send_signal(signal.SIGQUIT if "nginx" in p.args[0] else signal.SIGTERM)
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
