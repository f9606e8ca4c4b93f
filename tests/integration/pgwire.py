"""
pgwire: a tiny PostgreSQL v3 protocol client over a raw socket, for the tests
that need to see exact bytes: bad input, SQLSTATEs of login errors, cancel
keys, ParameterStatus, startup parameters libpq cannot send.

Only what the tests need: StartupMessage/SSLRequest/GSSENCRequest/CancelRequest,
TLS (after SSLRequest, or direct with ALPN), trust, cleartext, md5 and
SCRAM-SHA-256 log-in, and the simple query protocol.

With SLUICE_TEST_TLS=1 (the suite's TLS switch) startup() over TCP first asks
for TLS and uses it when offered, unless the test negotiated on its own.
"""

import base64
import hashlib
import hmac
import os
import select
import socket
import ssl
import struct
import time

PROTO_3_0 = 196608
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102
TLS_SWITCH = os.environ.get("SLUICE_TEST_TLS", "") not in ("", "0")


def client_tls_context(cafile=None, certfile=None, keyfile=None, alpn=("postgresql",), check_hostname=False):
    """An ssl.SSLContext for a PostgreSQL client (no verification unless cafile)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = check_hostname
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class PgError(Exception):
    """An ErrorResponse; fields maps the one-letter field codes to text."""

    def __init__(self, fields):
        self.fields = fields
        self.sqlstate = fields.get("C")
        self.severity = fields.get("V") or fields.get("S")
        self.message = fields.get("M", "")
        super().__init__(f"{self.severity} {self.sqlstate}: {self.message}")


class ConnectionClosed(Exception):
    pass


# ---------------------------------------------------------------- builders


def startup_packet(params, version=PROTO_3_0):
    body = struct.pack("!i", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def ssl_request():
    return struct.pack("!ii", 8, SSL_REQUEST_CODE)


def gssenc_request():
    return struct.pack("!ii", 8, GSSENC_REQUEST_CODE)


def cancel_request(pid, secret):
    return struct.pack("!iiII", 16, CANCEL_REQUEST_CODE, pid & 0xFFFFFFFF, secret & 0xFFFFFFFF)


def message(mtype, body=b""):
    return mtype + struct.pack("!i", len(body) + 4) + body


def query_message(sql):
    return message(b"Q", sql.encode() + b"\0")


TERMINATE = message(b"X")


# extended query protocol (text parameters and results)


def parse_msg(sql, name="", types=()):
    body = name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!h", len(types))
    for oid in types:
        body += struct.pack("!I", oid)
    return message(b"P", body)


def bind_msg(params=(), portal="", stmt=""):
    body = portal.encode() + b"\0" + stmt.encode() + b"\0" + struct.pack("!h", 0)
    body += struct.pack("!h", len(params))
    for v in params:
        if v is None:
            body += struct.pack("!i", -1)
        else:
            raw = str(v).encode()
            body += struct.pack("!i", len(raw)) + raw
    return message(b"B", body + struct.pack("!h", 0))


def describe_msg(kind=b"P", name=""):
    return message(b"D", kind + name.encode() + b"\0")


def execute_msg(portal="", max_rows=0):
    return message(b"E", portal.encode() + b"\0" + struct.pack("!i", max_rows))


def close_msg(kind=b"S", name=""):
    return message(b"C", kind + name.encode() + b"\0")


SYNC = message(b"S")
FLUSH = message(b"H")


def copy_data(data):
    return message(b"d", data)


COPY_DONE = message(b"c")


def parse_error_fields(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


# ---------------------------------------------------------------- connection


class RawConn:
    """One socket to a PostgreSQL-protocol server (sluice, PgBouncer or PG)."""

    def __init__(self, host="127.0.0.1", port=None, path=None, timeout=10.0):
        self.timeout = timeout
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.params = {}
        self.backend_key = None  # (pid, secret)
        self.status = None  # last ReadyForQuery status byte
        self.notices = []
        self.auth_requests = []  # authentication request codes seen at log-in (3, 5, 10...)
        self.closed = False
        self.tcp = not path
        self.negotiated = False  # SSLRequest/GSSENCRequest sent, or TLS started
        self.tls = False

    # ---- raw I/O

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from peer")
        buffered = self.tls and self.sock.pending() > 0  # decrypted already: select would not see it
        r = buffered or select.select([self.sock], [], [], remaining)[0]
        if not r:
            raise TimeoutError("no data from peer")
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b""
        if not data:
            raise ConnectionClosed("peer closed the connection")
        self.buf += data

    def recv_bytes(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_msg(self, timeout=None):
        """Next backend message as (type byte, body). Raises ConnectionClosed at EOF."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < 5:
            self._fill(deadline)
        mtype = self.buf[0:1]
        (length,) = struct.unpack("!i", self.buf[1:5])
        if length < 4:
            raise AssertionError(f"peer sent a bad length {length} for {mtype!r}")
        while len(self.buf) < 1 + length:
            self._fill(deadline)
        body = self.buf[5 : 1 + length]
        self.buf = self.buf[1 + length :]
        return mtype, body

    def wait_closed(self, timeout=None):
        """Read until EOF; returns (closed, messages seen). closed False on timeout."""
        msgs = []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while True:
                remaining = deadline - time.monotonic()
                msgs.append(self.recv_msg(timeout=max(remaining, 0.001)))
        except ConnectionClosed:
            return True, msgs
        except TimeoutError:
            return False, msgs
        except AssertionError:
            # garbage from the peer counts as "not a clean close"
            return False, msgs

    def error_or_close(self, timeout=None):
        """After bad input: returns ("error", fields, closed_after) or ("close", None, True)
        or ("timeout", msgs, False). closed_after tells whether EOF followed the error."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while True:
                mtype, body = self.recv_msg(timeout=max(deadline - time.monotonic(), 0.001))
                if mtype == b"E":
                    fields = parse_error_fields(body)
                    closed, _ = self.wait_closed(timeout=max(deadline - time.monotonic(), 2.0))
                    return "error", fields, closed
                if mtype == b"N":
                    continue
                return "unexpected", (mtype, body), False
        except ConnectionClosed:
            return "close", None, True
        except TimeoutError:
            return "timeout", None, False

    # ---- start-up

    def request_ssl(self, code=SSL_REQUEST_CODE):
        self.negotiated = True
        self.send(struct.pack("!ii", 8, code))
        return self.recv_bytes(1)

    def start_tls(self, context=None, server_hostname=None):
        """TLS on this socket now (after 'S', or first thing for direct TLS)."""
        self.negotiated = True
        ctx = context or client_tls_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self.tls = True
        return self

    def ssl_if_offered(self, context=None):
        """SSLRequest, and TLS when the answer is 'S'. Returns the answer byte."""
        answer = self.request_ssl()
        if answer == b"S":
            self.start_tls(context)
        return answer

    def startup(self, user, database=None, password=None, params=None, version=PROTO_3_0):
        """Send a StartupMessage and log in. Raises PgError on an ErrorResponse."""
        p = {"user": user}
        if database is not None:
            p["database"] = database
        if params:
            p.update(params)
        if user is None:
            del p["user"]
        if TLS_SWITCH and self.tcp and not self.negotiated:
            self.ssl_if_offered()
        self.send(startup_packet(p, version))
        return self.finish_login(user, password)

    def finish_login(self, user, password):
        scram = None
        while True:
            mtype, body = self.recv_msg()
            if mtype == b"E":
                raise PgError(parse_error_fields(body))
            if mtype == b"R":
                (code,) = struct.unpack("!i", body[:4])
                self.auth_requests.append(code)
                if code == 0:
                    continue
                if code == 3:
                    if password is None:
                        raise AssertionError("server asked for a cleartext password")
                    self.send(message(b"p", password.encode() + b"\0"))
                elif code == 5:
                    if password is None:
                        raise AssertionError("server asked for an md5 password")
                    salt = body[4:8]
                    inner = hashlib.md5((password + user).encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + salt).hexdigest()
                    self.send(message(b"p", b"md5" + outer.encode() + b"\0"))
                elif code == 10:
                    mechs = [m for m in body[4:].split(b"\0") if m]
                    if b"SCRAM-SHA-256" not in mechs:
                        raise AssertionError(f"no SCRAM-SHA-256 in {mechs}")
                    if password is None:
                        raise AssertionError("server asked for SCRAM")
                    scram = ScramClient(password)
                    first = scram.client_first()
                    self.send(
                        message(
                            b"p",
                            b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first,
                        )
                    )
                elif code == 11:
                    self.send(message(b"p", scram.client_final(body[4:])))
                elif code == 12:
                    scram.verify_server_final(body[4:])
                else:
                    raise AssertionError(f"unsupported auth request {code}")
            elif mtype == b"S":
                k, v, _ = body.split(b"\0", 2)
                self.params[k.decode()] = v.decode()
            elif mtype == b"K":
                self.backend_key = struct.unpack("!iI", body[:8])
            elif mtype == b"N":
                self.notices.append(parse_error_fields(body))
            elif mtype == b"Z":
                self.status = body[:1]
                return self
            elif mtype == b"v":
                continue  # NegotiateProtocolVersion
            else:
                raise AssertionError(f"unexpected message {mtype!r} during login")

    # ---- simple query

    def query(self, sql, timeout=None):
        """Run one simple query; returns list of rows (lists of str/None) of the
        last result. Raises PgError after reading up to ReadyForQuery."""
        self.send(query_message(sql))
        return self.read_result(timeout)

    def read_result(self, timeout=None):
        rows = []
        err = None
        while True:
            mtype, body = self.recv_msg(timeout)
            if mtype == b"T":
                rows = []
            elif mtype == b"D":
                (n,) = struct.unpack("!h", body[:2])
                pos = 2
                row = []
                for _ in range(n):
                    (ln,) = struct.unpack("!i", body[pos : pos + 4])
                    pos += 4
                    if ln < 0:
                        row.append(None)
                    else:
                        row.append(body[pos : pos + ln].decode("utf-8", "replace"))
                        pos += ln
                rows.append(row)
            elif mtype == b"E":
                err = PgError(parse_error_fields(body))
            elif mtype == b"S":
                k, v, _ = body.split(b"\0", 2)
                self.params[k.decode()] = v.decode()
            elif mtype == b"N":
                self.notices.append(parse_error_fields(body))
            elif mtype == b"Z":
                self.status = body[:1]
                if err:
                    raise err
                return rows
            # C (CommandComplete), I (EmptyQuery), A (notify): ignore

    def scalar(self, sql):
        return self.query(sql)[0][0]

    def extended(self, sql, params=(), timeout=None):
        """Parse/Bind/Describe/Execute/Sync of an unnamed statement; returns the
        rows as read_result does (raises PgError after ReadyForQuery)."""
        self.send(parse_msg(sql) + bind_msg(params) + describe_msg() + execute_msg() + SYNC)
        return self.read_result(timeout)

    def read_until(self, mtype, timeout=None):
        """Read messages up to and including the first of type mtype; returns them all."""
        seen = []
        while True:
            msg = self.recv_msg(timeout)
            seen.append(msg)
            if msg[0] == b"Z":
                self.status = msg[1][:1]
            if msg[0] == mtype:
                return seen

    def terminate(self):
        try:
            self.send(TERMINATE)
        except OSError:
            pass
        self.close()


def send_cancel(port, pid, secret, host="127.0.0.1", timeout=5.0):
    """Send a CancelRequest on a fresh connection; return True if the peer closed it
    (as it should: a CancelRequest never gets a reply)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(cancel_request(pid, secret))
        s.settimeout(timeout)
        try:
            data = s.recv(1)
        except (ConnectionResetError, socket.timeout):
            return False
        return data == b""
    finally:
        s.close()


# ---------------------------------------------------------------- SCRAM


class ScramClient:
    def __init__(self, password):
        self.password = password.encode()
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.bare = f"n=,r={self.nonce}"

    def client_first(self):
        return ("n,," + self.bare).encode()

    def client_final(self, server_first):
        sf = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in sf.split(","))
        rnonce, salt, iters = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not rnonce.startswith(self.nonce):
            raise AssertionError("server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iters)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={rnonce}"
        auth_msg = f"{self.bare},{sf},{without_proof}".encode()
        sig = hmac.new(stored_key, auth_msg, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        self.expected_server_sig = hmac.new(server_key, auth_msg, "sha256").digest()
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify_server_final(self, data):
        attrs = dict(kv.split("=", 1) for kv in data.decode().split(","))
        if base64.b64decode(attrs["v"]) != self.expected_server_sig:
            raise AssertionError("server signature mismatch")


def md5_secret(user, password):
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()
