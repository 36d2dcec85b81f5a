"""What every attack needs: a stub and a gateway started from this run's own folder, a probe
client that measures what a normal user waits, and the gateway's open files and memory."""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ATTACK_BUILD", os.path.join(REPOSITORY, ".build", "release"))


class AttackFailed(Exception):
    pass


def wait_for(condition, seconds, what):
    """Polls `condition` until it is true; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AttackFailed(f"timed out after {seconds} s waiting for {what}")


def attacker_core():
    """The core the attackers get to themselves (the last one), or None on a single core."""
    cores = sorted(os.sched_getaffinity(0))
    return cores[-1] if len(cores) > 1 else None


class Process:
    """A server binary whose output goes to a file; ready once `marker` appears in it."""

    def __init__(self, folder, name, arguments, marker):
        self.log_path = os.path.join(folder, f"{name}-{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([os.path.join(BUILD, name)] + arguments, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: marker in self.output() or self.process.poll() is not None, 30, f"{name} to start")
        if self.process.poll() is not None:
            raise AttackFailed(f"{name} exited at start: {self.output()[-2000:]}")

    @property
    def pid(self):
        return self.process.pid

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.log.close()


def start_stub(folder, latency_ms=0):
    stub = Process(folder, "faircom-stub", ["--port", "0", "--workers", "1", "--latency-ms", str(latency_ms)],
                   "faircom-stub listening on")
    stub.port = int(re.search(r"faircom-stub listening on \S+:(\d+)", stub.output()).group(1))
    return stub


def start_gateway(folder, stub_port, limits=None, sessions=None, workers=2, pool=8, extra=None):
    data = tempfile.mkdtemp(prefix="data-", dir=folder)
    config = {
        "workers": workers,
        "listeners": [{"name": "plain", "address": "127.0.0.1", "port": 0}],
        "upstreams": [{"name": "stub", "url": f"http://127.0.0.1:{stub_port}/api", "maxConnections": pool,
                       "connectTimeoutSeconds": 1, "responseTimeoutSeconds": 5,
                       # Health probes are connections too: rare, so the stub's count shows the pool's.
                       "healthCheckIntervalSeconds": 600}],
        "jsonActionApiDefaults": {"maxJsonApiSessions": 10000, "maxJsonApiSessionsPerIpAddress": 10000,
                                  "maxJsonApiSessionsPerUsername": 10000},
        "sessions": {"dataDirectory": data, **(sessions or {})},
        "limits": limits or {},
        "logging": {"level": "info", "accessLog": False},
    }
    config.update(extra or {})
    path = os.path.join(folder, f"gateway-{time.monotonic_ns()}.json")
    with open(path, "w") as f:
        json.dump(config, f)
    gateway = Process(folder, "gateway", ["--config", path], "gateway ready")
    gateway.port = int(re.search(r"gateway listening on plain \S+:(\d+)", gateway.output()).group(1))
    gateway.pool = pool
    return gateway


# ---- plain HTTP/1.1 ----

def post(port, body, source="127.0.0.1", timeout=10, connection=None):
    """One POST /api; returns (status, parsed JSON body or None, connection kept for reuse)."""
    sock = connection or socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                                  source_address=(source, 0))
    sock.settimeout(timeout)
    data = json.dumps(body).encode()
    sock.sendall(b"POST /api HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(data)).encode() + b"\r\n\r\n" + data)
    status, payload = read_response(sock)
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = None
    return status, parsed, sock


def read_response(sock):
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the response body")
        rest += chunk
    return status, rest[:length]


def login(port, source="127.0.0.1", password="ADMIN"):
    status, body, sock = post(port, {"api": "admin", "action": "createSession",
                                     "params": {"username": "admin", "password": password}}, source=source)
    sock.close()
    return body


def get_json(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return json.loads(read_response(sock)[1])


def listener_stats(gateway):
    return get_json(gateway.port, "/stats")["listeners"][0]


# ---- the probe ----

class Probe:
    """A well-behaved client on its own session: sequential keep-alive requests, each timed. With
    `logins`, each probe is the real admin's createSession and deleteSession instead."""

    def __init__(self, port, logins=False):
        self.port, self.logins = port, logins
        self.token = login(port, source="127.0.0.9")["authToken"]
        self.connection = None

    def one(self):
        if self.logins:
            return self.login_and_out()
        started = time.perf_counter()
        try:
            status, body, self.connection = post(self.port, {"api": "db", "action": "listDatabases", "authToken": self.token},
                                                 source="127.0.0.9", connection=self.connection, timeout=10)
            ok = status == 200 and body and body.get("errorCode") == 0
        except OSError:
            if self.connection:
                self.connection.close()
            self.connection = None
            ok = False
        return time.perf_counter() - started, ok

    def login_and_out(self):
        started = time.perf_counter()
        try:
            body = login(self.port, source="127.0.0.3")
            ok = body.get("errorCode") == 0
            if ok:
                post(self.port, {"api": "admin", "action": "deleteSession", "authToken": body["authToken"]},
                     source="127.0.0.3")[2].close()
        except OSError:
            ok = False
        return time.perf_counter() - started, ok

    def measure(self, count=None, seconds=None, pause=0.002):
        """Latencies (s) of `count` requests, or of as many as fit in `seconds`; failures count as 10 s."""
        latencies, failures = [], 0
        deadline = time.monotonic() + (seconds or 1e9)
        while (count is None or len(latencies) < count) and time.monotonic() < deadline:
            latency, ok = self.one()
            if not ok:
                failures += 1
                latency = max(latency, 10.0)
            latencies.append(latency)
            time.sleep(pause)
        return latencies, failures

    def close(self):
        if self.connection:
            self.connection.close()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# ---- the gateway's resources ----

def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def client_connections(pid, port):
    """The gateway's sockets on its listening port other than the listeners: client connections.
    (Its pooled upstream connections are meant to stay, so they are not counted.)"""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
                if inode in inodes and local_port == port and state != "0A":
                    count += 1
    return count


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


class Sampler:
    """Samples the gateway's RSS every 50 ms while an attack runs, from a process of its own (a
    thread would take the interpreter lock from the probe and show up in its latencies)."""

    def __init__(self, pid):
        import multiprocessing
        self.pid = pid
        self._peak = multiprocessing.Value("q", 0)
        self._running = multiprocessing.Event()
        self._process = multiprocessing.Process(target=self._run, daemon=True)

    def _run(self):
        while self._running.is_set():
            try:
                value = rss_kib(self.pid)
            except OSError:
                return
            if value > self._peak.value:
                self._peak.value = value
            time.sleep(0.05)

    def start(self):
        self._running.set()
        self._process.start()

    def stop(self):
        self._running.clear()
        self._process.join(timeout=5)

    @property
    def peak(self):
        return self._peak.value
