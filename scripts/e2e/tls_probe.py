#!/usr/bin/env python3
"""TLS checks against a running gateway with Python's ssl module, for the integration tests.

  tls_probe.py resume HOST PORT CAFILE          two connections; prints "resumed" if the second resumed
  tls_probe.py alpn HOST PORT CAFILE PROTO,...  prints the ALPN protocol chosen ("none" without one)
  tls_probe.py subject HOST PORT CAFILE SNI     prints the served certificate's subject CN for that SNI name
  tls_probe.py serial HOST PORT CAFILE          prints the served certificate's serial number
  tls_probe.py loop HOST PORT CAFILE SECONDS    new connection + GET /health in a loop; prints "ok N failed M"
  tls_probe.py keepalive HOST PORT CAFILE SECONDS  one connection: a request, a pause, a second request;
                                                   prints "kept <serial>" when both were answered
Each request is one HTTP/1.1 GET /health with Connection: close, whose status must be 200.
"""
import socket
import ssl
import sys
import time


def context(cafile, protocols=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if protocols is not None:
        ctx.set_alpn_protocols(protocols)
    return ctx


def health_kept(conn, host):
    """One GET /health on a kept-alive connection; the answer is read by its Content-Length."""
    conn.sendall(b"GET /health HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int([line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")][0])
    while len(body) < length:
        body += conn.recv(65536)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("unexpected answer: %r" % head[:80])


def health(conn, host):
    conn.sendall(b"GET /health HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("unexpected answer: %r" % data[:80])


def connect(ctx, host, port, server_name=None, session=None):
    raw = socket.create_connection((host, port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=server_name or "localhost", session=session)


def main():
    mode, host, port, cafile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if mode == "resume":
        ctx = context(cafile)
        first = connect(ctx, host, port)
        health(first, host)  # TLS 1.3 tickets arrive after the handshake, with the first data
        session = first.session
        first.close()
        second = connect(ctx, host, port, session=session)
        reused, version = second.session_reused, second.version()
        health(second, host)
        second.close()
        print("resumed" if reused else "not resumed", version)
    elif mode == "alpn":
        protocols = [p for p in sys.argv[5].split(",") if p]
        conn = connect(context(cafile, protocols or None), host, port)
        print(conn.selected_alpn_protocol() or "none")
        if conn.selected_alpn_protocol() in (None, "http/1.1"):
            health(conn, host)
        conn.close()
    elif mode == "subject":
        ctx = context(cafile)
        ctx.check_hostname = False
        conn = connect(ctx, host, port, server_name=sys.argv[5])
        subject = dict(item[0] for item in conn.getpeercert()["subject"])
        print(subject.get("commonName", ""))
        conn.close()
    elif mode == "serial":
        conn = connect(context(cafile), host, port)
        print(conn.getpeercert()["serialNumber"])
        conn.close()
    elif mode == "keepalive":
        conn = connect(context(cafile, ["http/1.1"]), host, port)
        health_kept(conn, host)
        time.sleep(float(sys.argv[5]))
        health_kept(conn, host)
        print("kept", conn.getpeercert()["serialNumber"])
        conn.close()
    elif mode == "loop":
        ctx = context(cafile)
        ctx.options |= ssl.OP_NO_TICKET  # every round a full handshake, so each one meets the current certificate
        deadline = time.monotonic() + float(sys.argv[5])
        ok = failed = 0
        serials = set()
        while time.monotonic() < deadline:
            try:
                conn = connect(ctx, host, port)
                serials.add(conn.getpeercert()["serialNumber"])
                health(conn, host)
                conn.close()
                ok += 1
            except Exception as error:  # noqa: BLE001 - every failure counts
                failed += 1
                print("failure:", error, file=sys.stderr)
        print("ok", ok, "failed", failed, "certificates", len(serials))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
