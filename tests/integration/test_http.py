"""HTTP on the admin port: /healthz, /readyz (503 while paused, draining after
SIGTERM, or when no server connection can be made), 404/405/400/431, and
nothing an HTTP client sends stalls or crashes the loop."""

import signal
import socket
import time

import pytest

from admin_helpers import admin_config, console, http, http_raw, parse_http, wait_admin_port
from cluster import free_port, wait_for
from helpers import run_threads
from pooler import SLACK

pytestmark = pytest.mark.sluice_only


def status_of(s, path, **kw):
    return http(s, path, **kw)[0]


def test_healthz_readyz_and_errors(sluice):
    s = sluice(config=admin_config())
    st, headers, body = http(s, "/healthz")
    assert st == 200 and body.strip() == b"ok"
    assert headers["content-type"].startswith("text/plain")
    assert headers.get("connection") == "close"
    st, _, body = http(s, "/readyz")
    assert st == 200 and body.strip() == b"ready"
    assert status_of(s, "/healthz?verbose=1") == 200
    assert status_of(s, "/") == 200  # the status page
    assert status_of(s, "/no/such/path") == 404
    assert status_of(s, "/metricsX") == 404
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        assert status_of(s, "/metrics", method=method) == 405, method
    assert s.alive()


def test_head_has_headers_but_no_body(sluice):
    """RFC 9110 9.3.2: the answer to HEAD is the GET answer's head without content."""
    s = sluice(config=admin_config())
    resp = http_raw(s, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), resp[:100]
    assert rest == b"", f"HEAD answered with a body: {rest[:60]!r}"


@pytest.mark.parametrize("request_line", [
    b"GET /healthz\r\n\r\n",
    b"GET  /healthz HTTP/1.1\r\n\r\n",
    b"GET healthz HTTP/1.1\r\n\r\n",
    b"GET /healthz HTTP/2.0\r\n\r\n",
    b"GET /healthz HTTP/1.1 extra\r\n\r\n",
    b"GET /hea\x01lthz HTTP/1.1\r\n\r\n",
    b"GET /\xffhealthz HTTP/1.1\r\n\r\n",
    b"GETTTTTTTTTTTTTTTTTTTTTTTTTTTTT /healthz HTTP/1.1\r\n\r\n",
    b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n",
    b"\r\n\r\n",
])
def test_malformed_request_is_400(sluice, request_line):
    s = sluice(config=admin_config())
    resp = http_raw(s, request_line)
    if request_line.startswith(b"\r\n"):
        # not an HTTP request line at all: an error of some kind, or a close
        assert not resp.startswith(b"HTTP/1.1 200"), resp[:100]
    else:
        st, _, _ = parse_http(resp)
        assert st == 400, (request_line[:60], resp[:100])
    assert status_of(s, "/healthz") == 200


def test_huge_header_is_refused(sluice):
    s = sluice(config=admin_config())
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    resp = http_raw(s, big)
    assert resp == b"" or parse_http(resp)[0] == 431, resp[:100]
    # a head that never ends is refused too, without waiting for the end
    endless = b"GET /healthz HTTP/1.1\r\n" + b"X-Header: value\r\n" * 1000
    resp = http_raw(s, endless, timeout=5)
    assert resp == b"" or parse_http(resp)[0] == 431, resp[:100]
    assert status_of(s, "/healthz") == 200
    with s.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_a_normal_sized_head_is_served(sluice):
    """Real clients send a few hundred bytes of headers; a few KiB are fine too."""
    s = sluice(config=admin_config())
    headers = "".join(f"X-Header-{i}: {'v' * 40}\r\n" for i in range(60))  # ~3.5 KiB
    assert status_of(s, "/healthz", extra_headers=headers) == 200


def test_half_request_does_not_stall_the_loop(sluice):
    s = sluice(config=admin_config(client_login_timeout=2))
    wait_admin_port(s)
    # half a request, then the client goes away
    with socket.create_connection(("127.0.0.1", s.admin_port)) as sock:
        sock.sendall(b"GET /metr")
    # half a request, and the client stays: others are served meanwhile
    half = socket.create_connection(("127.0.0.1", s.admin_port), timeout=10 * SLACK)
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    assert status_of(s, "/healthz") == 200
    assert status_of(s, "/metrics") == 200
    with s.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
    assert time.monotonic() - t0 < 2 * SLACK
    # client_login_timeout bounds how long a half request holds its socket
    half.settimeout(10 * SLACK)
    data = b""
    try:
        while True:
            chunk = half.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    assert time.monotonic() - t0 < 8 * SLACK, "a half request held its socket for too long"
    assert not data.startswith(b"HTTP/1.1 200"), data[:100]
    half.close()
    assert status_of(s, "/healthz") == 200


def test_request_sent_byte_by_byte(sluice):
    s = sluice(config=admin_config())
    wait_admin_port(s)
    req = b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", s.admin_port), timeout=10 * SLACK) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(req)):
            sock.sendall(req[i:i + 1])
            time.sleep(0.005)
        data = read_to_end(sock)
    assert parse_http(data)[0] == 200


def test_many_concurrent_requests(sluice):
    s = sluice(config=admin_config())
    results, errors = run_threads(lambda i: status_of(s, ("/healthz", "/readyz", "/metrics", "/nope")[i % 4]), 40,
                                  timeout=30 * SLACK)
    assert not errors, errors
    assert [results[i] for i in range(40)] == [(200, 200, 200, 404)[i % 4] for i in range(40)]


def test_readyz_503_while_paused_or_suspended(sluice):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    assert status_of(s, "/readyz") == 200
    a.execute("PAUSE")
    st, _, body = http(s, "/readyz")
    assert st == 503 and b"paused" in body
    assert status_of(s, "/healthz") == 200  # alive, just not ready
    a.execute("RESUME")
    assert status_of(s, "/readyz") == 200
    a.execute("SUSPEND")
    assert status_of(s, "/readyz") == 503
    a.execute("RESUME")
    assert status_of(s, "/readyz") == 200


def test_readyz_503_while_draining_after_sigterm(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    c = s.connect(user=role)
    c.execute("BEGIN")
    c.execute("SELECT 1")
    assert status_of(s, "/readyz") == 200
    s.signal(signal.SIGTERM)
    time.sleep(0.3)  # let the loop take the signal (see the next test for a probe already connected)
    st, _, body = http(s, "/readyz")
    assert st == 503 and b"draining" in body, (st, body)
    assert s.alive()
    assert status_of(s, "/healthz") == 200
    m = http(s, "/metrics")
    assert m[0] == 200 and b"sluice_ready 0" in m[2]
    c.execute("COMMIT")
    assert s.wait_exit(timeout=10) == 0


def test_probe_connected_before_sigterm_gets_an_http_answer(sluice, role):
    """A probe whose TCP connection was accepted just before SIGTERM (and whose
    request arrives just after) is still an HTTP client: it gets 503, not a
    PostgreSQL ErrorResponse."""
    s = sluice(config=admin_config(pool_mode="transaction"))
    c = s.connect(user=role)
    c.execute("BEGIN")
    c.execute("SELECT 1")
    wait_admin_port(s)
    probe = socket.create_connection(("127.0.0.1", s.admin_port), timeout=10 * SLACK)
    time.sleep(0.2)  # accepted, nothing sent yet
    s.signal(signal.SIGTERM)
    time.sleep(0.3)
    try:
        probe.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    except OSError:
        pass
    data = b""
    try:
        while True:
            chunk = probe.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    probe.close()
    try:
        assert data.startswith(b"HTTP/1.1 503"), data[:120]
    finally:
        c.execute("COMMIT")
        s.wait_exit(timeout=10)


def test_readyz_503_when_no_server_connection_can_be_made(sluice, pg):
    dead = free_port()
    dbs = {
        "testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb",
        "deaddb": f"host=127.0.0.1 port={dead} dbname=testdb",
    }
    s = sluice(config=admin_config(pool_mode="transaction", server_login_retry=1, server_connect_timeout=2),
               databases=dbs)
    assert status_of(s, "/readyz") == 200
    with pytest.raises(Exception):
        with s.connect(dbname="deaddb") as c:
            c.execute("SELECT 1")
    st, _, body = http(s, "/readyz")
    assert st == 503, body
    # the failure ages out once nothing tries any more
    wait_for(lambda: status_of(s, "/readyz") == 200, timeout=8 * SLACK, what="/readyz back to 200")
    with s.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def read_to_end(sock):
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


def read_response(sock):
    """One response from a kept-alive connection, by its Content-Length:
    (status, headers, body, bytes read past it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    n = int(headers["content-length"])
    while len(body) < n:
        chunk = sock.recv(4096)
        assert chunk
        body += chunk
    return int(lines[0].split()[1]), headers, body[:n], body[n:]


def test_keep_alive_serves_several_requests_on_one_connection(sluice):
    """HTTP/1.1 keep-alive, as Prometheus scrapes: requests one after the other
    and pipelined on one connection; HTTP/1.0 and Connection: close end it."""
    s = sluice(config=admin_config())
    wait_admin_port(s)
    with socket.create_connection(("127.0.0.1", s.admin_port), timeout=10 * SLACK) as sock:
        for path, want in (("/metrics", 200), ("/healthz", 200), ("/nope", 404), ("/readyz", 200)):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            st, headers, body, extra = read_response(sock)
            assert (st, headers["connection"], extra) == (want, "keep-alive", b""), path
        # two requests in one segment: two answers, in order
        sock.sendall(b"GET /healthz HTTP/1.1\r\n\r\nHEAD /readyz HTTP/1.1\r\nConnection: close\r\n\r\n")
        data = read_to_end(sock)
        first, _, second = data.partition(b"ok\n")
        assert first.startswith(b"HTTP/1.1 200") and b"keep-alive" in first, data
        assert second.startswith(b"HTTP/1.1 200") and second.endswith(b"\r\n\r\n"), data
        assert b"Connection: close" in second
    # HTTP/1.0 closes unless asked otherwise
    with socket.create_connection(("127.0.0.1", s.admin_port), timeout=10 * SLACK) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        data = read_to_end(sock)
        assert parse_http(data)[1]["connection"] == "close"
    # a request with a body is answered, then the connection ends (the body is never read)
    resp = http_raw(s, b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    st, headers, _ = parse_http(resp)
    assert (st, headers["connection"], headers["allow"]) == (405, "close", "GET, HEAD")
