"""Raw HTTP/2 frames, written by hand so an attack sends exactly what it means to (a library
would refuse, reorder or throttle them)."""

import socket
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
CANCEL, ENHANCE_YOUR_CALM = 0x8, 0xB


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def integer(value, prefix_bits, first=0):
    """An HPACK integer with a `prefix_bits` prefix; `first` holds the pattern bits above it."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out, value = [first | limit], value - limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes(out + [value])


def indexed_literal(name, value):
    """HPACK literal with incremental indexing (the field enters the dynamic table at index 62)."""
    name, value = name.encode(), value.encode()
    return b"\x40" + integer(len(name), 7) + name + integer(len(value), 7) + value


def _literal(name, value):
    """HPACK literal header field without indexing, new name, no Huffman coding."""
    name, value = name.encode(), value.encode()
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def request_headers(path="/api", authority="gw", extra=()):
    block = b"\x83\x86"  # :method POST, :scheme http (static table)
    block += _literal(":path", path) + _literal(":authority", authority) + _literal("content-type", "application/json")
    for name, value in extra:
        block += _literal(name, value)
    return block


def headers(stream, block, end_stream=False, end_headers=True):
    flags = (END_HEADERS if end_headers else 0) | (END_STREAM if end_stream else 0)
    return frame(HEADERS, flags, stream, block)


def data(stream, payload, end_stream=True):
    return frame(DATA, END_STREAM if end_stream else 0, stream, payload)


def rst(stream, code=CANCEL):
    return frame(RST_STREAM, 0, stream, struct.pack(">I", code))


def settings(entries=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in entries))


def ping(opaque=b"12345678"):
    return frame(PING, 0, 0, opaque)


def window_update(stream, increment):
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


class Connection:
    """An h2c connection with prior knowledge; frames in are parsed only as far as an attack needs."""

    def __init__(self, port, timeout=5):
        self.timeout = timeout
        self.buffer = b""
        self.goaway_code = None
        self.closed = False
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        # A gateway turning this address away closes at once: the connection is then just closed.
        self.send(PREFACE + settings() + window_update(0, 1 << 30))

    def send(self, payload):
        try:
            self.sock.sendall(payload)
            return True
        except OSError:
            self.closed = True
            return False

    def frames(self, block=False):
        """Frames received so far, (type, flags, stream, payload); reads without waiting unless `block`."""
        self.sock.settimeout(self.timeout if block else 0)
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    self.closed = True
                    break
                self.buffer += chunk
                if block:
                    break
        except (BlockingIOError, socket.timeout):
            pass
        except OSError:
            self.closed = True
        finally:
            self.sock.settimeout(self.timeout)
        found = []
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                break
            kind, flags = self.buffer[3], self.buffer[4]
            stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
            payload = self.buffer[9:9 + length]
            self.buffer = self.buffer[9 + length:]
            if kind == GOAWAY and len(payload) >= 8:
                self.goaway_code = int.from_bytes(payload[4:8], "big")
            if kind == SETTINGS and not flags & ACK:
                self.send(settings(ack=True))
            found.append((kind, flags, stream, payload))
        return found

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
