"""Shared pieces of the benchmarks: the processes under test (stub, gateway, nginx, HAProxy) on free
ports, the load tools (wrk, h2load, openssl s_time) and their parsing, and what a process tree
costs (CPU seconds, resident memory) read from /proc."""
import json, os, re, shutil, signal, socket, ssl, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release")
BASELINE_DIR = os.path.join(ROOT, ".build-baseline")

# The Debian package that brings each tool a benchmark runs.
PACKAGES = {"wrk": "wrk", "h2load": "nghttp2-client", "nginx": "nginx", "haproxy": "haproxy",
            "openssl": "openssl", "chromium": "chromium", "redis-server": "redis-server"}


def require(script, tools, binaries=("gateway", "faircom-stub")):
    """Stops `script` with the apt-get line and build command it needs, before anything starts."""
    missing = [tool for tool in tools if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}")]
    if missing:
        packages = " ".join(dict.fromkeys(PACKAGES.get(tool, tool) for tool in missing))
        sys.exit(f"{script} needs {', '.join(missing)}: apt-get install {packages}")
    for binary in binaries:
        if not os.path.exists(os.path.join(BIN, binary)):
            sys.exit(f"{script}: no {BIN}/{binary}: run `swift build -c release` first")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
LOGIN = {"api": "admin", "action": "createSession", "params": {"username": "admin", "password": "ADMIN"}}
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
# bench/post.lua's body: a ~300-byte getRecordsUsingSQL with the session token last.
POST_BODY = ('{{"api":"db","action":"getRecordsUsingSQL","apiVersion":"1.0","requestId":"bench-0001",'
             '"params":{{"databaseName":"ctreeSQL","sql":"SELECT id, name, ranking, earnings FROM athlete WHERE earnings > 1000000",'
             '"returnCursor":false}},"responseOptions":{{"dataFormat":"objects","numberFormat":"number"}},'
             '"authToken":"{token}"}}')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def post(port, body, scheme="http"):
    context = ssl._create_unverified_context() if scheme == "https" else None
    req = urllib.request.Request(f"{scheme}://127.0.0.1:{port}/api", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10, context=context) as r:
        return json.loads(r.read())


def login(port, scheme="http"):
    answer = post(port, LOGIN, scheme)
    assert answer["errorCode"] == 0, answer
    return answer["authToken"]


def raise_open_file_limit(wanted=65536):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---- what a process tree costs ----

def tree(pid):
    """The pid and all its descendants (nginx's workers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        p = pending.pop()
        found.append(p)
        pending += children.get(p, [])
    return found


def tree_cpu(pid):
    """(user, system) CPU seconds of the whole tree, every thread included."""
    user = system = 0.0
    for p in tree(pid):
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11]) / TICK
        system += int(fields[12]) / TICK
    return user, system


def tree_rss_bytes(pid):
    total = 0
    for p in tree(pid):
        try:
            total += int(open(f"/proc/{p}/statm").read().split()[1]) * PAGE
        except OSError:
            pass
    return total


# ---- load tools ----

def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    lat = {}
    for pct, val, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        lat[pct] = float(val) * UNITS[unit]
    errors = re.search(r"Socket errors:.*", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    return {"rps": rps, "requests": total, "p50": lat.get("50"), "p99": lat.get("99"),
            "errors": (errors.group(0) if errors else "") + (f" non-2xx={non2xx.group(1)}" if non2xx else "")}


def run_wrk(port, seconds, connections, script="post.lua", env=None, threads=1, scheme="http", headers=()):
    env = dict(os.environ, **(env or {}))
    extra = [arg for header in headers for arg in ("-H", header)]
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", *extra,
                          "-s", os.path.join(ROOT, "bench", script), f"{scheme}://127.0.0.1:{port}/api"],
                         capture_output=True, text=True, env=env, check=True).stdout
    return parse_wrk(out)


def run_h2load(port, seconds, data_file, connections=8, streams=32):
    # No --warm-up-time: its requests would not be counted while their CPU is (bench/run warms up apart).
    out = subprocess.run(["h2load", "-D", str(seconds), "-c", str(connections), "-m", str(streams),
                          "-t", "1", "-d", data_file, "-H", "content-type: application/json", f"https://127.0.0.1:{port}/api"],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out).group(1))
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
    status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    failed = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed", out)
    bad = int(status.group(2)) + int(status.group(3)) + int(status.group(4)) + int(failed.group(1)) if status and failed else -1
    return {"rps": rps, "requests": done, "p50": None, "p99": None, "errors": f"failed or non-2xx={bad}" if bad else ""}


def run_s_time(port, seconds, clients=4):
    """Full handshakes per second: `clients` sequential `openssl s_time -new` loops in parallel, GET /health."""
    started = time.monotonic()
    procs = [subprocess.Popen(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds), "-www", "/health"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(clients)]
    total = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 30)
        found = re.search(r"(\d+) connections in ([\d.]+)s;", out)
        total += int(found.group(1)) if found else 0
    return {"rps": total / (time.monotonic() - started), "requests": total, "p50": None, "p99": None, "errors": ""}


def open_idle_connections(port, count, body, scheme="http"):
    """`count` keep-alive connections, each after one answered request; the caller closes them."""
    context = ssl._create_unverified_context() if scheme == "https" else None
    request = (f"POST /api HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
               ).encode() + body
    sockets = []
    for _ in range(count):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock = context.wrap_socket(raw, server_hostname="localhost") if context else raw
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, rest = answer.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        while len(rest) < length:
            rest += sock.recv(65536)
        sockets.append(sock)
    return sockets


# ---- the processes under test ----

def start_stub(workers, folder=None):
    port = free_port()
    proc = subprocess.Popen([os.path.join(BIN, "faircom-stub"), "--port", str(port), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def start_gateway(workdir, name, stub_port, workers, binary=None, tweak=None, tls=None):
    """A gateway from the repository's gateway.json (metrics and admin listener as shipped), in front
    of the stub: a plain listener and, given (certificate, key), a TLS listener. Returns (process, ports)."""
    ports = {"plain": free_port()}
    config = json.load(open(os.path.join(ROOT, "gateway.json")))
    config["workers"] = workers
    config["listeners"] = [{"name": "plain", "address": "127.0.0.1", "port": ports["plain"]}]
    if tls:
        ports["tls"] = free_port()
        config["listeners"].append({"name": "tls", "address": "127.0.0.1", "port": ports["tls"],
                                    "tls": {"certificateFilename": tls[0], "privateKeyFilename": tls[1]}})
    config["upstreams"][0]["url"] = f"http://127.0.0.1:{stub_port}/api"
    config["logging"] = {"level": "warning", "accessLog": False}
    if "admin" in config:
        config["admin"]["port"] = free_port()
    if "sessions" in config:
        config["sessions"]["dataDirectory"] = os.path.join(workdir, f"data-{name}")
    config.pop("pidFile", None)
    if tweak:
        tweak(config)
    path = os.path.join(workdir, f"{name}.json")
    json.dump(config, open(path, "w"))
    proc = subprocess.Popen([binary or os.path.join(BIN, "gateway"), "--config", path], stdout=subprocess.DEVNULL)
    for port in ports.values():
        wait_port(port)
    return proc, ports


def access_log_to(workdir, name):
    def tweak(config):
        config["logging"] = {"level": "warning", "accessLog": True, "accessLogFile": os.path.join(workdir, f"{name}-access.log")}
    return tweak


def unlimited_sessions(config):
    config["jsonActionApiDefaults"].update({"maxJsonApiSessions": 10_000_000, "maxJsonApiSessionsPerIpAddress": 10_000_000,
                                            "maxJsonApiSessionsPerUsername": 10_000_000})


NGINX_CONF = """
worker_processes {workers};
worker_rlimit_nofile 65536;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log {access_log};
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  http2_max_requests 1000000;
  upstream faircom {{ server 127.0.0.1:{stub}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} reuseport;
{tls_server}
    location = /health {{ return 200 '{{"status":"ok"}}'; }}
    location /api {{
      proxy_pass http://faircom;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""

NGINX_TLS = """    listen 127.0.0.1:{port} ssl http2 reuseport;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_prefer_server_ciphers on;"""


def peer_ports_and_folder(workdir, name, tls):
    """Free ports (plain, and TLS when asked) and a folder of its own for a peer proxy."""
    ports = {"plain": free_port(), **({"tls": free_port()} if tls else {})}
    folder = os.path.join(workdir, name)
    os.makedirs(folder, exist_ok=True)
    return ports, folder


def start_nginx(workdir, name, stub_port, workers, tls=None, access_log=False):
    """nginx as a keep-alive reverse proxy in front of the stub; with (certificate, key), a TLS server too."""
    ports, nginx_dir = peer_ports_and_folder(workdir, name, tls)
    tls_server = NGINX_TLS.format(port=ports["tls"], cert=tls[0], key=tls[1]) if tls else ""
    with open(os.path.join(nginx_dir, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(workers=workers, dir=nginx_dir, stub=stub_port, port=ports["plain"], tls_server=tls_server,
                                  access_log=os.path.join(nginx_dir, "access.log") if access_log else "off"))
    proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", os.path.join(nginx_dir, "nginx.conf"),
                             "-p", nginx_dir], stderr=subprocess.DEVNULL)
    for port in ports.values():
        wait_port(port)
    return proc, ports


HAPROXY_CONF = """
global
  nbthread {workers}
  maxconn 9000
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 60s
  timeout http-keep-alive 300s
frontend bench
  bind 127.0.0.1:{port}
{tls_bind}
  http-request return status 200 content-type application/json string '{{"status":"ok"}}' if {{ path /health }}
  default_backend faircom
backend faircom
  server stub 127.0.0.1:{stub} maxconn 64
"""


def start_haproxy(workdir, name, stub_port, workers, tls=None):
    """HAProxy (threads, one process) as a keep-alive reverse proxy in front of the stub; with
    (certificate, key), a TLS bind with ALPN h2 too."""
    ports, folder = peer_ports_and_folder(workdir, name, tls)
    tls_bind = ""
    if tls:
        combined = os.path.join(folder, "combined.pem")
        with open(combined, "w") as f:
            f.write(open(tls[0]).read() + open(tls[1]).read())
        tls_bind = f"  bind 127.0.0.1:{ports['tls']} ssl crt {combined} alpn h2,http/1.1"
    config = os.path.join(folder, "haproxy.cfg")
    with open(config, "w") as f:
        f.write(HAPROXY_CONF.format(workers=workers, port=ports["plain"], stub=stub_port, tls_bind=tls_bind))
    proc = subprocess.Popen([shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", config],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for port in ports.values():
        wait_port(port)
    return proc, ports


def make_certificate(workdir, key_type="rsa"):
    cert, key = os.path.join(workdir, "bench.pem"), os.path.join(workdir, "bench.key")
    new_key = ["-newkey", "rsa:2048"] if key_type == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    subprocess.run(["openssl", "req", "-x509", *new_key, "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def stop(procs):
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGQUIT if "nginx" in p.args[0] else signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def baseline_binary(rev):
    """The gateway of an earlier revision, built once from `rev` into .build-baseline."""
    binary = os.path.join(BASELINE_DIR, "release", "gateway")
    stamp = os.path.join(BASELINE_DIR, "rev")
    if os.path.exists(binary) and os.path.exists(stamp) and open(stamp).read() == rev:
        return binary
    with tempfile.TemporaryDirectory() as tree_dir:
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree_dir, rev], check=True, capture_output=True)
        try:
            print(f"building the gateway of {rev} ...", file=sys.stderr)
            subprocess.run(["swift", "build", "-c", "release", "--product", "gateway", "--package-path", tree_dir,
                            "--scratch-path", BASELINE_DIR], check=True, capture_output=True)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree_dir], capture_output=True)
    open(stamp, "w").write(rev)
    return binary
