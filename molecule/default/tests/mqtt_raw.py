"""A minimal MQTT 3.1.1 client over Python's ssl, for tests that must see what the SERVER does.

Used from the controller (towards the broker container's address, verifying the certificate
against the name `broker1`) and, copied into a device container, by test_device_tls.py with the
settings of the device's mqtt.env. Python's standard library only (the devices have no paho).

Why not paho or mosquitto_sub: both reconnect by themselves, which would hide a dropped
connection; and a refused handshake should be reported with the alert the server sent.
"""

import os
import select
import socket
import ssl
import struct
import time


class Refused(Exception):
    """The server refused: `reason` is OpenSSL's name of the alert or error, or an MQTT code."""

    def __init__(self, reason, detail=""):
        super().__init__("%s %s" % (reason, detail))
        self.reason = reason


def _varlen(length):
    out = b""
    while True:
        byte, length = length % 128, length // 128
        out += bytes([byte | (0x80 if length else 0)])
        if not length:
            return out


def _string(text):
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id, keepalive=60, clean=True):
    flags = 0x02 if clean else 0x00
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + _string(client_id)
    return b"\x10" + _varlen(len(body)) + body


def context(ca_file, cert=None, key=None, minimum=None, maximum=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca_file)
    if cert:
        ctx.load_cert_chain(cert, key)
    if ciphers:
        ctx.set_ciphers(ciphers)
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


def _recv_exact(sock, count, deadline):
    data = b""
    while len(data) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the broker")
        if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            ready, _w, _x = select.select([sock], [], [], remaining)
            if not ready:
                continue
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def read_packet(sock, timeout=10.0):
    """Return (type, flags, body) of the next MQTT packet."""
    deadline = time.monotonic() + timeout
    first = _recv_exact(sock, 1, deadline)[0]
    length, shift = 0, 0
    while True:
        byte = _recv_exact(sock, 1, deadline)[0]
        length += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first >> 4, first & 0x0F, _recv_exact(sock, length, deadline)


def open_session(address, port, ctx, server_name, client_id, timeout=10.0, expect_refusal=False,
                 clean=True):
    """TLS handshake and MQTT CONNECT; return the socket once the broker accepted (CONNACK 0).

    Raises Refused with the server's alert or with the CONNACK return code. Under TLS 1.3 the
    server judges the client certificate after the client's side of the handshake is done and
    answers with an alert; a client that writes meanwhile may get a reset that discards the
    alert, so with expect_refusal the client first waits (up to 5 s) for what the server says."""
    raw = socket.create_connection((address, port), timeout=timeout)
    try:
        sock = ctx.wrap_socket(raw, server_hostname=server_name)
    except ssl.SSLError as exc:
        raw.close()
        raise Refused(exc.reason or str(exc), str(exc))
    if expect_refusal:
        try:
            sock.settimeout(5.0)
            sock.recv(1)
            raise Refused("unexpected-data")
        except ssl.SSLError as exc:
            sock.close()
            raise Refused(exc.reason or str(exc), str(exc))
        except socket.timeout:
            sock.settimeout(timeout)  # nothing said: go on with CONNECT
    try:
        sock.sendall(connect_packet(client_id, clean=clean))
        kind, _flags, body = read_packet(sock, timeout)
    except ssl.SSLError as exc:
        sock.close()
        raise Refused(exc.reason or str(exc), str(exc))
    except (ConnectionError, OSError) as exc:
        sock.close()
        raise Refused("closed", str(exc))
    if kind != 2 or len(body) != 2:
        sock.close()
        raise Refused("not-connack", repr((kind, body)))
    if body[1] != 0:
        sock.close()
        raise Refused("connack-%d" % body[1])
    return sock


def subscribe(sock, topic, packet_id=1, qos=0):
    body = struct.pack("!H", packet_id) + _string(topic) + bytes([qos])
    sock.sendall(b"\x82" + _varlen(len(body)) + body)
    kind, _flags, body = read_packet(sock)
    assert kind == 9 and body[2] != 0x80, "SUBSCRIBE refused: %r" % (body,)


def publish(sock, topic, payload):
    body = _string(topic) + payload.encode()
    sock.sendall(b"\x30" + _varlen(len(body)) + body)


def messages(sock, seconds):
    """Collect (topic, payload) of PUBLISH packets for `seconds`; ConnectionError if dropped."""
    got = []
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return got
        try:
            kind, _flags, body = read_packet(sock, remaining)
        except TimeoutError:
            return got
        if kind == 3:
            size = struct.unpack("!H", body[:2])[0]
            start = 2 + size
            if (_flags >> 1) & 3:  # QoS 1: a packet id, to acknowledge
                sock.sendall(b"\x40\x02" + body[start:start + 2])
                start += 2
            got.append((body[2:2 + size].decode(), body[start:].decode()))


def ping(sock):
    """PINGREQ -> PINGRESP on the same connection (proves it is still open)."""
    sock.sendall(b"\xc0\x00")
    while True:
        kind, _flags, _body = read_packet(sock)
        if kind == 13:
            return True


def disconnect(sock):
    try:
        sock.sendall(b"\xe0\x00")
    finally:
        sock.close()


def _env_session(settings):
    ctx = ssl.create_default_context(cafile=settings["MQTT_CAFILE"])  # the system's OpenSSL policy
    ctx.load_cert_chain(settings["MQTT_CERTFILE"], settings["MQTT_KEYFILE"])
    return open_session(settings["MQTT_HOST"], int(settings["MQTT_PORT"]), ctx,
                        settings["MQTT_HOST"], settings["MQTT_CLIENT_ID"])


def echo_loop(settings, seconds, out, stop_file=None):
    """One connection that publishes a numbered message every 0.2 s to $MQTT_TOPIC_PREFIX/echo and
    reads each back; a line per message that came back ("echo N T"), "closed T REASON" when the
    connection ends, then one reconnection attempt every 0.5 s ("refused T REASON" or
    "reconnected T"), until `seconds` have passed or stop_file exists. T is the wall clock."""
    topic = settings["MQTT_TOPIC_PREFIX"] + "/echo"
    end = time.time() + seconds
    sock = _env_session(settings)
    subscribe(sock, topic)
    count = 0
    try:
        while time.time() < end and not (stop_file and os.path.exists(stop_file)):
            count += 1
            publish(sock, topic, str(count))
            deadline = time.monotonic() + 0.2
            while time.monotonic() < deadline:
                if not sock.pending() and not select.select([sock], [], [], 0.05)[0]:
                    continue
                kind, _flags, body = read_packet(sock, 5.0)
                if kind == 3:
                    size = struct.unpack("!H", body[:2])[0]
                    out.write("echo %s %.3f\n" % (body[2 + size:].decode(), time.time()))
                    out.flush()
    except (OSError, ValueError) as exc:
        out.write("closed %.3f %r\n" % (time.time(), exc))
        out.flush()
        while time.time() < end and not (stop_file and os.path.exists(stop_file)):
            time.sleep(0.5)
            try:
                again = _env_session(settings)
            except (OSError, Refused) as refused:
                out.write("refused %.3f %r\n" % (time.time(), refused))
            else:
                out.write("reconnected %.3f\n" % time.time())
                again.close()
            out.flush()
        return
    out.write("open %.3f\n" % time.time())
    disconnect(sock)


if __name__ == "__main__":
    # On a device: python3 mqtt_raw.py ENVFILE PAYLOAD -- connect with the settings of mqtt.env
    # (verifying the broker's name), subscribe to $MQTT_TOPIC_PREFIX/env and publish PAYLOAD there on
    # the one connection, check that exactly it came back, print the TLS version.
    import sys

    settings = {}
    with open(sys.argv[1]) as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                settings[name] = value
    if sys.argv[2] == "--echo-loop":  # ENVFILE --echo-loop SECONDS OUTFILE
        with open(sys.argv[4], "w") as log:
            echo_loop(settings, float(sys.argv[3]), log, sys.argv[4] + ".stop")
        sys.exit(0)
    session = _env_session(settings)
    topic = settings["MQTT_TOPIC_PREFIX"] + "/env"
    subscribe(session, topic)
    publish(session, topic, sys.argv[2])
    got = messages(session, 3)
    version = session.version()
    disconnect(session)
    if got != [(topic, sys.argv[2])]:
        sys.exit("published %r to %s and got back %r" % (sys.argv[2], topic, got))
    print(version)
