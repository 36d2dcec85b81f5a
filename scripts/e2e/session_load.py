#!/usr/bin/env python3
"""A client loop for the reload test: logins and forwarded actions over one HTTP/1.1 keep-alive
connection and one HTTP/2 (prior knowledge) connection, side by side, until STOPFILE exists.

  session_load.py PORT USERNAME PASSWORD STOPFILE

Each round, on each protocol: createSession, listDatabases twice, deleteSession. Any answer that
is not HTTP 200 with errorCode 0, and any broken connection, counts as failed. Prints one line
per protocol: "http1 ok N failed M" and "http2 ok N failed M", then the first failures.
"""
import http.client
import json
import os
import socket
import sys
import threading

import h2.connection
import h2.config
import h2.events

PORT, USERNAME, PASSWORD, STOPFILE = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
failures = []


def login_body():
    return {"api": "admin", "action": "createSession", "params": {"username": USERNAME, "password": PASSWORD}}


def rounds(send, name, tally):
    while not os.path.exists(STOPFILE):
        login = send(login_body())
        if login is None:
            continue
        token = login.get("authToken")
        if not token:
            continue
        for body in ({"api": "db", "action": "listDatabases", "authToken": token},
                     {"api": "db", "action": "listDatabases", "authToken": token},
                     {"api": "admin", "action": "deleteSession", "authToken": token}):
            send(body)


def checked(name, tally, status, payload, body):
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = None
    if status == 200 and isinstance(answer, dict) and answer.get("errorCode") == 0:
        tally[0] += 1
        return answer
    tally[1] += 1
    failures.append(f"{name} {body['action']}: HTTP {status} {payload[:300]!r}")
    return None


def http1(tally):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)

    def send(body):
        try:
            conn.request("POST", "/api", json.dumps(body), {"Content-Type": "application/json"})
            response = conn.getresponse()
            return checked("http1", tally, response.status, response.read(), body)
        except Exception as error:  # a broken connection is a failure, and the loop goes on
            tally[1] += 1
            failures.append(f"http1 {body['action']}: {error!r}")
            conn.close()
            return None

    rounds(send, "http1", tally)


def http2(tally):
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())

    def send(body):
        stream = conn.get_next_available_stream_id()
        payload = json.dumps(body).encode()
        conn.send_headers(stream, [(":method", "POST"), (":path", "/api"), (":scheme", "http"), (":authority", "gw"),
                                   ("content-type", "application/json"), ("content-length", str(len(payload)))])
        conn.send_data(stream, payload, end_stream=True)
        sock.sendall(conn.data_to_send())
        status, data = 0, b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed")
                done = False
                for event in conn.receive_data(chunk):
                    if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                        status = int(dict(event.headers)[":status"])
                    elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                        data += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, stream)
                    elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                        done = True
                    elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                        raise ConnectionError(f"{type(event).__name__}")
                sock.sendall(conn.data_to_send())
                if done:
                    return checked("http2", tally, status, data, body)
        except Exception as error:
            tally[1] += 1
            failures.append(f"http2 {body['action']}: {error!r}")
            raise

    try:
        rounds(send, "http2", tally)
    except Exception:
        pass  # recorded; the HTTP/2 loop does not reconnect, so a dropped connection shows


tallies = {"http1": [0, 0], "http2": [0, 0]}
threads = [threading.Thread(target=http1, args=(tallies["http1"],)), threading.Thread(target=http2, args=(tallies["http2"],))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
for name, (ok, failed) in tallies.items():
    print(f"{name} ok {ok} failed {failed}")
for line in failures[:10]:
    print(line)
