"""log_format = json: every line on stderr and in logfile is one JSON object
with time/level/pid/event/message, connection lines carry client, database,
user and address, error lines their sqlstate; the format follows reloads and
the console's SET; lines before the configuration is read stay text; odd
bytes in names are escaped so every line still parses. And, in both formats
at verbose = 2, no password, md5 response, SCRAM proof or Bind parameter
ever reaches the log."""

import json
import os
import re
import signal
import struct

import psycopg
import pytest

import pgwire
from admin_helpers import ADMIN, admin_config, console
from cluster import wait_for
from pgwire import PgError, md5_secret
from pooler import SLACK

pytestmark = pytest.mark.sluice_only

LEVELS = {"FATAL", "ERROR", "WARNING", "LOG", "DEBUG", "NOISE"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TEXT_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \d+ [A-Z]+ ")


def parse_lines(text, pid):
    """Every line of text as a JSON object with the fields every line has."""
    objs = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError(f"not a JSON line ({e}): {line!r}")
        assert isinstance(obj, dict), line
        for key in ("time", "level", "pid", "event", "message"):
            assert key in obj, f"no {key}: {line}"
        assert TIME_RE.match(obj["time"]), line
        assert obj["level"] in LEVELS, line
        assert obj["pid"] == pid, line
        assert isinstance(obj["event"], str) and obj["event"], line
        assert isinstance(obj["message"], str), line
        if "client" in obj:
            assert re.match(r"^[CS]-\d+$", obj["client"]), line
            assert isinstance(obj.get("address"), str) and obj["address"], f"no address: {line}"
            # a client has no database nor user until its startup packet is read
            needed = obj["client"].startswith("S-") or obj["event"].startswith("client_login")
            for key in ("database", "user"):
                if needed or key in obj:
                    assert isinstance(obj.get(key), str) and obj[key], f"no {key}: {line}"
        objs.append(obj)
    return objs


def test_json_lines_through_a_session(sluice, pg, role):
    """Start, logins, a query, errors with a SQLSTATE (client_idle_timeout, an
    unknown database), a reload and the drain at SIGTERM: all JSON, on stderr
    and in logfile alike."""
    s = sluice(start=False, config={
        "log_format": "json", "verbose": 1, "pool_mode": "transaction",
        "client_idle_timeout": 1, "log_connections": 1, "log_disconnections": 1,
    }, databases={"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb"})
    logfile = os.path.join(s.dir, "sluice.log")
    s.overrides["logfile"] = logfile
    s.write_config()
    s.start()

    with s.connect(user=role) as c:
        assert c.execute("SELECT %s::int + 1", (41,)).fetchone()[0] == 42
    raw = s.raw_login(user=role)
    assert raw.query("SELECT 1") == [["1"]]
    kind, fields, closed = raw.error_or_close(timeout=15 * SLACK)
    assert kind == "error" and fields["C"] == "08P01" and closed, (kind, fields)
    with pytest.raises(PgError) as refused:
        s.raw_login(user=role, database="nosuchdb")
    assert refused.value.fields["C"] == "3D000"
    s.reload(config={"client_idle_timeout": 2})
    wait_for(lambda: "configuration reloaded" in s.log_text(), timeout=5 * SLACK, what="the reload")
    s.signal(signal.SIGTERM)
    assert s.wait_exit() == 0

    objs = parse_lines(s.log_text(), s.pid)
    with open(logfile) as f:
        in_file = parse_lines(f.read(), s.pid)
    assert [o["message"] for o in in_file] == [o["message"] for o in objs]

    events = {o["event"] for o in objs}
    for ev in ("start", "listen", "client_login", "client_close", "server_connect", "reload", "shutdown"):
        assert ev in events, f"no {ev} event in {sorted(events)}"
    assert any(o["event"] == "reload" and o["message"] == "configuration reloaded" for o in objs)
    assert any(o["event"] == "start" and "started" in o["message"] for o in objs)

    mine = [o for o in objs if o.get("user") == role and o["client"].startswith("C-")]
    assert mine, "no client line names the role"
    for o in mine:
        assert re.match(r"^127\.0\.0\.1:\d+$", o["address"]), o
        assert o["database"] in ("testdb", "nosuchdb"), o
    logins = [o for o in mine if o["event"] == "client_login"]
    assert len(logins) >= 2 and all(o["message"] == "login ok" for o in logins), logins
    # the message is the text format's message, without the prefix
    assert not any(o["message"].startswith("C-") for o in objs)

    idle = [o for o in mine if o["event"] == "client_close" and "client_idle_timeout" in o["message"]]
    assert len(idle) == 1 and idle[0]["sqlstate"] == "08P01", idle
    assert idle[0]["message"].startswith("closing because: client_idle_timeout (age=")
    nodb = [o for o in mine if o["event"] == "client_close" and o["database"] == "nosuchdb"]
    assert len(nodb) == 1 and nodb[0]["sqlstate"] == "3D000", nodb
    # a client leaving by itself closes without an error
    plain = [o for o in mine if o["event"] == "client_close" and "Terminate" in o["message"]]
    assert plain and all("sqlstate" not in o for o in plain), plain

    servers = [o for o in objs if o.get("client", "").startswith("S-")]
    assert servers, "no server line at verbose=1"
    for o in servers:
        assert o["database"] == "testdb" and o["address"] == f"127.0.0.1:{pg.port}", o


def test_format_follows_reload_and_set(sluice, pg):
    """text at start; json after a reload (the reload's own line already JSON);
    text again after the console's SET log_format = text."""
    s = sluice(config=admin_config())

    def one_client():
        """A client comes and goes; returns once its closing line is in the log."""
        n = s.log_text().count("client sent Terminate")
        with s.connect() as c:
            c.execute("SELECT 1")
        wait_for(lambda: s.log_text().count("client sent Terminate") > n, timeout=5 * SLACK,
                 what="the client's closing line")

    one_client()
    before = s.log_text()
    assert before and all(TEXT_RE.match(ln) for ln in before.splitlines()), before

    s.reload(config={"log_format": "json"})
    wait_for(lambda: "configuration reloaded" in s.log_text(), timeout=5 * SLACK, what="the reload")
    one_client()
    after = s.log_text()[len(before):].splitlines()
    # "got SIGHUP" is written before the new configuration is read
    assert TEXT_RE.match(after[0]) and "SIGHUP" in after[0], after[0]
    objs = parse_lines("\n".join(after[1:]), s.pid)
    assert objs[-1]["event"] == "client_close", objs[-1]
    assert any(o["message"] == "configuration reloaded" for o in objs)

    admin = console(s, user=ADMIN)
    admin.execute("SHOW VERSION")  # its login line is written by now: the mark comes after it
    mark = len(s.log_text())
    admin.execute("SET log_format = text")
    assert admin.execute("SHOW CONFIG").fetchall()  # the console still answers
    wait_for(lambda: "admin: SET log_format = text" in s.log_text()[mark:], timeout=5 * SLACK,
             what="the SET line")
    one_client()
    tail = s.log_text()[mark:].splitlines()
    assert tail and all(TEXT_RE.match(ln) for ln in tail), tail
    rows = {r[0]: r[1] for r in admin.execute("SHOW CONFIG").fetchall()}
    assert rows["log_format"] == "text"


def test_lines_before_the_config_stay_text(sluice, pg):
    """A warning while the file is read comes before log_format applies."""
    s = sluice(config={"log_format": "json", "no_such_key_here": 1})
    lines = s.log_text().splitlines()
    assert TEXT_RE.match(lines[0]) and "unknown key no_such_key_here" in lines[0], lines[0]
    parse_lines("\n".join(lines[1:]), s.pid)


def test_bad_log_format_value_is_refused(sluice, pg):
    s = sluice(start=False, config={"log_format": "xml"})
    s.start(wait=False)
    assert s.wait_exit() == 1
    text = s.log_text()
    assert "log_format" in text and "xml" in text, text
    assert "{" not in text, text


def startup_bytes(params):
    body = struct.pack("!i", pgwire.PROTO_3_0)
    for k, v in params.items():
        body += k + b"\0" + v + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def test_json_escapes_odd_names(sluice, pg):
    """Quotes, backslashes, control characters and bytes that are not UTF-8 in
    the user name (as the client sent it) keep every line parseable."""
    s = sluice(config={"log_format": "json", "log_connections": 1})
    odd = b'we"ird\\na\x01me\xff\xc3\xa9'
    raw = s.raw()
    raw.send(startup_bytes({b"user": odd, b"database": b"testdb"}))
    raw.error_or_close(timeout=10 * SLACK)
    wait_for(lambda: "client_login_attempt" in s.log_text(), timeout=5 * SLACK, what="the login line")
    objs = parse_lines(s.log_text(), s.pid)
    want = 'we"ird\\na\x01me\ufffd\u00e9'
    assert any(o.get("user") == want for o in objs), [o.get("user") for o in objs]
    attempt = [o for o in objs if o["event"] == "client_login_attempt"]
    assert attempt and want in attempt[0]["message"], attempt


# ---- secrets, in both formats

CLIENT_PW = "Cl1ent-S3cret-pw-7f3a"
SERVER_PW = "S3rver-S3cret-pw-91c2"
PARAM_1 = "B1nd-Param-S3cret-5d0e"
PARAM_2 = "B1nd-Param-S3cret-c4b8"
PARAM_BAD = "B1nd-Param-S3cret-not-an-int"
SERVER_ROLE = "u_logsecret"


@pytest.fixture(scope="module")
def secret_role(pg):
    """A role PostgreSQL makes sluice authenticate with SCRAM."""
    pg.execute("SET password_encryption = 'scram-sha-256'")  # the default since PostgreSQL 14
    pg.create_role(SERVER_ROLE, password=SERVER_PW)
    assert pg.secret(SERVER_ROLE).startswith("SCRAM-SHA-256$")
    pg.add_hba_first(f"host all {SERVER_ROLE} 127.0.0.1/32 scram-sha-256")
    return SERVER_ROLE


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("auth_type", ["md5", "scram-sha-256"])
def test_no_secrets_at_verbose_2(sluice, pg, secret_role, monkeypatch, log_format, auth_type):
    """Password logins (psycopg and raw, with the bytes on the wire recorded),
    extended-protocol queries with Bind parameters (one PostgreSQL rejects,
    quoting it in its error): none of it is in the log at verbose = 2."""
    sent = []
    real_send = pgwire.RawConn.send

    def recording_send(self, data):
        sent.append(bytes(data))
        return real_send(self, data)

    monkeypatch.setattr(pgwire.RawConn, "send", recording_send)
    db = f"host=127.0.0.1 port={pg.port} dbname=testdb user={secret_role} password={SERVER_PW}"
    s = sluice(
        config={"auth_type": auth_type, "pool_mode": "transaction", "verbose": 2,
                "log_format": log_format, "log_connections": 1, "log_disconnections": 1},
        databases={"testdb": db},
        userlist={"clara": CLIENT_PW},
    )
    with s.connect(user="clara", password=CLIENT_PW) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == secret_role
        assert c.execute("SELECT %s::text || %s::text", (PARAM_1, "x")).fetchone()[0] == PARAM_1 + "x"
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            c.execute("SELECT %s::int", (PARAM_BAD,))
    raw = s.raw_login(user="clara", password=CLIENT_PW)
    assert raw.extended("SELECT $1::text", [PARAM_2]) == [[PARAM_2]]
    with pytest.raises(PgError):
        raw.extended("SELECT $1::int", [PARAM_BAD])
    raw.terminate()
    with pytest.raises(psycopg.OperationalError):
        s.connect(user="clara", password=CLIENT_PW + "-wrong")
    s.signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in s.log_text(), timeout=5 * SLACK, what="the reload")

    # what the raw client answered to the authentication requests
    wire = []
    for data in sent:
        if data[:1] == b"p":
            payload = data[5:].rstrip(b"\0").decode(errors="replace")
            wire.append(payload)
            m = re.search(r"(?:^|,)p=([A-Za-z0-9+/=]+)", payload)
            if m:
                wire.append(m.group(1))  # the SCRAM ClientProof alone
    assert wire, "the raw client sent no password message"
    if auth_type == "scram-sha-256":
        assert any(w.startswith("c=biws,") for w in wire), wire
    else:
        assert any(w.startswith("md5") for w in wire), wire

    log = s.log_text()
    assert "clara" in log and "NOISE" in log, "verbose=2 logged nothing about the client"
    if log_format == "json":
        parse_lines(log, s.pid)
    secrets = [CLIENT_PW, SERVER_PW, PARAM_1, PARAM_2, PARAM_BAD, "B1nd-Param-S3cret",
               md5_secret("clara", CLIENT_PW), md5_secret(secret_role, SERVER_PW)] + wire
    for secret in secrets:
        assert secret not in log, f"{secret!r} is in the log"
