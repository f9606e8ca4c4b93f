"""auth_type = hba: each client's method from the first matching rule of
auth_hba_file (PostgreSQL's pg_hba.conf format), with auth_ident_file maps
for peer.

Every rule is proven by the exchange it makes sluice run: the authentication
request code the client is sent (0 none, 3 cleartext, 5 md5, 10 SASL), a
wrong password failing where a password is checked and not where none is,
and PostgreSQL's 28000 messages for reject and for no matching rule. Clients
log in to PostgreSQL as u_trust whatever their own user, so the client users
need exist only in auth_file. The unix socket gives `local` rules and peer
(the test's own OS user, root in CI, mapped through an ident map). A bad hba
or ident file stops a start and --check with `file:line: reason`, and a
reload with one keeps the running rules; a good changed file applies to the
next log-in.
"""

import base64
import hashlib
import hmac
import os
import pwd
import signal
import socket
import subprocess

import psycopg
import pytest

from admin_helpers import ADMIN, console, refused_reload
from cluster import wait_for
from pgwire import TLS_SWITCH, PgError, md5_secret
from pooler import SLACK, SLUICE_BIN

pytestmark = pytest.mark.sluice_only

ADMIN_PW = "Admin-pw-1"
PW = {"alice": "Alice-pw-1", "bob": "Bob-pw-2", "carol": "Carol-pw-3", "erin": "Erin-pw-5",
      "frank": "Frank-pw-6", "trusty": "Trusty-pw-7", "mallory": "Mallory-pw-8"}
ME = pwd.getpwuid(os.geteuid()).pw_name  # the OS user the peer rules see


def scram_secret(password, salt=b"sluice-hba-salt!", iterations=4096):
    """A SCRAM-SHA-256 secret as PostgreSQL stores it (RFC 5803), made here."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}"


def userlist():
    """alice, bob, trusty, mallory: cleartext; carol, erin: SCRAM; frank: md5."""
    users = {u: PW[u] for u in ("alice", "bob", "trusty", "mallory")}
    users.update(carol=scram_secret(PW["carol"]), erin=scram_secret(PW["erin"]),
                 frank=md5_secret("frank", PW["frank"]), u_trust="pw_trust", **{ADMIN: ADMIN_PW})
    return users


def hba_pooler(sluice, pg, rules, ident=None, files=None, userlist_=None, start=True):
    """A pooler under auth_type = hba with `rules` as its hba file (and `ident`
    as its ident file, `files` as more files beside them). Databases testdb,
    otherdb, thirddb and nomap all lead to PostgreSQL's testdb as u_trust."""
    server = f"host=127.0.0.1 port={pg.port} dbname=testdb user=u_trust"
    s = sluice(config={"auth_type": "hba", "pool_mode": "transaction", "admin_users": ADMIN},
               databases={db: server for db in ("testdb", "otherdb", "thirddb", "nomap")},
               userlist=userlist() if userlist_ is None else userlist_, start=False)
    s.hba_path = os.path.join(s.dir, "hba.conf")
    s.overrides["auth_hba_file"] = s.hba_path
    write(s.hba_path, rules)
    if ident is not None:
        s.ident_path = os.path.join(s.dir, "ident.conf")
        s.overrides["auth_ident_file"] = s.ident_path
        write(s.ident_path, ident)
    for name, text in (files or {}).items():
        write(os.path.join(s.dir, name), text)
    s.write_config()
    if start:
        s.start()
    return s


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def login(s, user, password=None, database="testdb", unix=False):
    """Log in on a raw connection; returns it (its auth_requests tell the method)."""
    c = s.raw(unix=unix)
    c.startup(user, database, password=password)
    return c


def refused(s, user, password=None, database="testdb", unix=False):
    """The PgError of a log-in that must fail."""
    with pytest.raises(PgError) as e:
        login(s, user, password, database, unix)
    assert e.value.severity == "FATAL"
    return e.value


# TCP clients use TLS under the suite's TLS switch (pgwire and libpq ask for it when offered)
TCP_ENC = "SSL encryption" if TLS_SWITCH else "no encryption"


def tcp_msg(kind, user, database="testdb"):
    return f'{kind} for host "127.0.0.1", user "{user}", database "{database}", {TCP_ENC}'


def wait_reloads(s, n, timeout=5.0):
    wait_for(lambda: s.log_text().count("configuration reloaded") >= n, timeout=timeout * SLACK,
             what=f"reload number {n}")


# ---------------------------------------------------------------- methods


METHOD_RULES = """\
# TYPE  DATABASE  USER     ADDRESS        METHOD
host    all       trusty   127.0.0.1/32   trust
host    all       ghost    127.0.0.1/32   trust
host    all       alice    127.0.0.1/32   md5
host    all       erin     127.0.0.1/32   md5
host    all       bob      127.0.0.1/32   password
host    all       carol    127.0.0.1/32   scram-sha-256
host    all       frank    127.0.0.1/32   scram-sha-256
host    all       mallory  127.0.0.1/32   reject
"""


def test_trust_rule_asks_no_password(sluice, pg):
    s = hba_pooler(sluice, pg, METHOD_RULES)
    c = login(s, "trusty")  # would raise if a password were asked
    assert c.auth_requests == [0]
    assert c.scalar("SELECT current_user") == "u_trust"
    # a user missing from auth_file is refused even by trust, as auth_type = trust does
    e = refused(s, "ghost")
    assert (e.sqlstate, e.message) == ("28P01", 'password authentication failed for user "ghost"')


@pytest.mark.parametrize("user,code", [("alice", 5), ("bob", 3), ("carol", 10), ("erin", 10)])
def test_password_rules_run_their_exchange(sluice, pg, user, code):
    """md5 asks md5 (SCRAM for a SCRAM secret: erin), password asks cleartext,
    scram-sha-256 asks SASL; the right password logs in, a wrong one fails."""
    s = hba_pooler(sluice, pg, METHOD_RULES)
    c = login(s, user, PW[user])
    assert c.auth_requests[0] == code, c.auth_requests
    assert c.scalar("SELECT current_user") == "u_trust"
    e = refused(s, user, "not-the-password")
    assert (e.sqlstate, e.message) == ("28P01", f'password authentication failed for user "{user}"')
    # the same user under trust logs in with any password: the rule decides
    s2 = hba_pooler(sluice, pg, f"host all {user} 127.0.0.1/32 trust\n")
    assert login(s2, user, "not-the-password").auth_requests == [0]


def test_scram_rule_with_md5_secret_fails(sluice, pg):
    """As PostgreSQL: no SCRAM exchange can succeed against an md5 secret; it
    runs to its end against a mock secret and fails as a wrong password."""
    s = hba_pooler(sluice, pg, METHOD_RULES)
    c = s.raw()
    with pytest.raises(PgError) as e:
        c.startup("frank", "testdb", password=PW["frank"])
    assert c.auth_requests == [10, 11]
    assert (e.value.sqlstate, e.value.message) == ("28P01", 'password authentication failed for user "frank"')


def test_reject_and_no_entry(sluice, pg):
    s = hba_pooler(sluice, pg, METHOD_RULES)
    e = refused(s, "mallory", PW["mallory"])
    assert (e.sqlstate, e.message) == ("28000", tcp_msg("pg_hba.conf rejects connection", "mallory"))
    e = refused(s, "zed", "x", database="otherdb")
    assert (e.sqlstate, e.message) == ("28000", tcp_msg("no pg_hba.conf entry", "zed", "otherdb"))
    # psycopg shows the same message
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry for host"):
        s.connect(user="zed", password="x")
    assert "pg_hba.conf rejects connection" in s.log_text()


# ---------------------------------------------------------------- matching


def test_first_match_wins(sluice, pg):
    s = hba_pooler(sluice, pg, "host all alice 127.0.0.1/32 reject\n"
                               "host all alice 127.0.0.1/32 trust\n"
                               "host all all   127.0.0.1/32 md5\n")
    e = refused(s, "alice")
    assert e.message == tcp_msg("pg_hba.conf rejects connection", "alice")
    assert login(s, "bob", PW["bob"]).auth_requests[0] == 5
    s2 = hba_pooler(sluice, pg, "host all alice 127.0.0.1/32 trust\n"
                                "host all alice 127.0.0.1/32 reject\n")
    assert login(s2, "alice").auth_requests == [0]


def test_database_and_user_lists_and_at_files(sluice, pg):
    s = hba_pooler(
        sluice, pg,
        "host testdb,otherdb  alice,\"bob\"  127.0.0.1/32 trust\n"
        "host @dbs.txt        @users.txt   127.0.0.1/32 trust\n"
        "host all             all          127.0.0.1/32 reject\n",
        files={"dbs.txt": "# databases for the reports\nthirddb\n",
               "users.txt": "carol\n@more.txt\n", "more.txt": "erin\n"})
    for user, db in (("alice", "testdb"), ("bob", "otherdb"), ("carol", "thirddb"), ("erin", "thirddb")):
        c = login(s, user, database=db)
        assert c.auth_requests == [0], (user, db)
        assert c.scalar("SELECT 1") == "1"
    for user, db in (("alice", "thirddb"), ("carol", "testdb"), ("trusty", "testdb")):
        e = refused(s, user, database=db)
        assert e.message == tcp_msg("pg_hba.conf rejects connection", user, db)


def raw_from(s, source):
    """A raw connection to sluice from the local address `source` (Linux
    routes all of 127.0.0.0/8 to the loopback interface)."""
    c = s.raw()
    c.sock.close()
    c.sock = socket.create_connection(("127.0.0.1", s.port), timeout=c.timeout, source_address=(source, 0))
    return c


def test_address_that_does_not_match_falls_through(sluice, pg):
    s = hba_pooler(sluice, pg, "host all all 10.0.0.0/8                  trust\n"
                               "host all all 127.0.0.2/32                trust\n"
                               "host all all ::1/128                     trust\n"
                               "host all all 127.0.0.0 255.255.255.254   md5\n"
                               "host all all 0.0.0.0/0                   reject\n")
    c = s.raw()
    with pytest.raises(AssertionError, match="md5 password"):
        c.startup("alice", "testdb")  # 127.0.0.1 is not in the first three rules
    assert login(s, "alice", PW["alice"]).auth_requests[0] == 5
    # the same user from 127.0.0.2 meets the second rule
    c = raw_from(s, "127.0.0.2")
    c.startup("alice", "testdb")
    assert c.auth_requests == [0]
    # and from 127.0.0.3 only the last one
    with pytest.raises(PgError) as e:
        raw_from(s, "127.0.0.3").startup("alice", "testdb")
    assert e.value.message == ('pg_hba.conf rejects connection for host "127.0.0.3", user "alice", '
                               f'database "testdb", {TCP_ENC}')


def test_local_rules_over_the_unix_socket(sluice, pg):
    s = hba_pooler(sluice, pg, "local all alice trust\n"
                               "local all all   reject\n"
                               "host  all all   127.0.0.1/32 md5\n")
    c = login(s, "alice", unix=True)
    assert c.auth_requests == [0]
    assert c.scalar("SELECT current_user") == "u_trust"
    e = refused(s, "bob", PW["bob"], unix=True)
    assert (e.sqlstate, e.message) == (
        "28000", 'pg_hba.conf rejects connection for host "[local]", user "bob", database "testdb", no encryption')
    # over TCP the host rule applies to both
    assert login(s, "alice", PW["alice"]).auth_requests[0] == 5
    assert login(s, "bob", PW["bob"]).auth_requests[0] == 5
    # psycopg over the socket directory
    with psycopg.connect(host=s.dir, port=s.port, user="alice", dbname="testdb", autocommit=True,
                         connect_timeout=int(10 * SLACK)) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    s2 = hba_pooler(sluice, pg, "host all all 127.0.0.1/32 trust\n")
    e = refused(s2, "alice", unix=True)
    assert e.message == 'no pg_hba.conf entry for host "[local]", user "alice", database "testdb", no encryption'


def test_peer_with_an_ident_map(sluice, pg):
    """The test's own OS user (root in CI) reaches database users through the
    map: by name, and by a regular expression with \\1. Without a map, only
    its own name. A mapped user must still be in auth_file."""
    users = userlist()
    users[ME] = "unused"
    users[f"app_{ME}"] = "unused"
    s = hba_pooler(sluice, pg, "local nomap all peer\n"
                               "local all   all peer map=os\n",
                   ident=f"# MAP  SYSTEM     DATABASE\n"
                         f"os     {ME}       alice\n"
                         f"os     /^(.*)$    app_\\1\n"
                         f"os     {ME}       ghost\n"
                         f"other  {ME}       bob\n",
                   userlist_=users)
    for user in ("alice", f"app_{ME}"):
        c = login(s, user, unix=True)
        assert c.auth_requests == [0], user
        assert c.scalar("SELECT current_user") == "u_trust"
    failed = {"bob": "testdb", "carol": "testdb", "ghost": "testdb", "alice": "nomap"}
    for user, db in failed.items():
        e = refused(s, user, database=db, unix=True)
        assert (e.sqlstate, e.message) == ("28000", f'Peer authentication failed for user "{user}"'), user
    assert login(s, ME, database="nomap", unix=True).auth_requests == [0]
    assert f'no line of map "os" lets "{ME}" log in' in s.log_text()
    # TCP never meets a local rule
    e = refused(s, "alice")
    assert e.message == tcp_msg("no pg_hba.conf entry", "alice")


def test_admin_console_goes_through_the_rules(sluice, pg):
    """As in PgBouncer, the console's database is matched like any other."""
    s = hba_pooler(sluice, pg, "host sluice,pgbouncer sluice_admin 127.0.0.1/32 scram-sha-256\n"
                               "host all all 127.0.0.1/32 reject\n")
    admin = console(s, password=ADMIN_PW)
    assert admin.execute("SHOW CONFIG").fetchall()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        console(s, password="wrong")
    with psycopg.connect(host="127.0.0.1", port=s.port, user=ADMIN, password=ADMIN_PW, dbname="pgbouncer",
                         autocommit=True, connect_timeout=int(10 * SLACK)) as c:
        assert c.execute("SHOW VERSION").fetchall()
    e = refused(s, ADMIN, ADMIN_PW, database="testdb")
    assert e.message == tcp_msg("pg_hba.conf rejects connection", ADMIN)


# ---------------------------------------------------------------- bad files, reload


def run(*args, timeout=20):
    return subprocess.run([SLUICE_BIN, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          errors="replace", timeout=timeout)


BAD = {
    "hba_method": ("hba", "local all all trust\n\nhost all all 127.0.0.1/32 ldap\n",
                   ':3: authentication method "ldap" is not supported'),
    "hba_group": ("hba", "local all +admins trust\n",
                  ":1: group membership (\"+admins\") is not supported: sluice does not know PostgreSQL's roles"),
    "hba_peer_tcp": ("hba", "# c\nhost all all 0.0.0.0/0 peer\n", ":2: peer authentication is only supported on local sockets"),
    "ident": ("ident", "os root\n", ":1: expected 3 fields (map name, system user, database user), found 2"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_stops_start_and_check(sluice, pg, name):
    which, text, reason = BAD[name]
    s = hba_pooler(sluice, pg, "local all all trust\n", ident="", start=False)
    path = s.hba_path if which == "hba" else s.ident_path
    write(path, text)
    want = f"auth_{which}_file: {path}{reason}"
    p = run("--check", s.config_path)
    assert p.returncode == 1, p.stdout + p.stderr
    assert want in p.stderr, p.stderr
    p = run(s.config_path, timeout=10)
    assert p.returncode == 1, p.stdout + p.stderr
    assert want in p.stderr, p.stderr
    # the good file passes
    write(path, "local all all trust\n" if which == "hba" else "os root alice\n")
    p = run("--check", s.config_path)
    assert p.returncode == 0, p.stdout + p.stderr


def test_hba_without_its_file_is_a_config_error(sluice, pg):
    s = sluice(config={"auth_type": "hba"}, start=False)
    line = next(i for i, ln in enumerate(s.render().splitlines(), 1) if ln.startswith("auth_type"))
    for args in (("--check", s.config_path), (s.config_path,)):
        p = run(*args, timeout=10)
        assert p.returncode == 1
        assert f"{s.config_path}:{line}: auth_type: hba needs auth_hba_file" in p.stderr, p.stderr


@pytest.mark.parametrize("how", ["sighup", "admin_reload"])
def test_reload_with_bad_hba_file_keeps_the_rules(sluice, pg, how):
    rules = ("host sluice sluice_admin 127.0.0.1/32 md5\n"
             "host all   alice        127.0.0.1/32 trust\n"
             "host all   all          127.0.0.1/32 reject\n")
    s = hba_pooler(sluice, pg, rules)
    before = login(s, "alice")
    admin = console(s, password=ADMIN_PW)
    write(s.hba_path, rules.replace("reject", "radius"))
    want = (f"reload failed, keeping the running configuration: auth_hba_file: {s.hba_path}:3: "
            'authentication method "radius" is not supported')
    assert "configuration reloaded" not in refused_reload(s, how, admin, want)
    # the running rules: alice without a password, bob rejected
    assert before.scalar("SELECT 'still here'") == "still here"
    assert login(s, "alice").auth_requests == [0]
    assert refused(s, "bob", PW["bob"]).message == tcp_msg("pg_hba.conf rejects connection", "bob")
    assert admin.execute("SHOW CONFIG").fetchall()


def test_reload_with_changed_file_applies_to_new_logins(sluice, pg):
    s = hba_pooler(sluice, pg, "host all alice 127.0.0.1/32 trust\n", ident="")
    before = login(s, "alice")
    assert before.auth_requests == [0]
    n = s.log_text().count("configuration reloaded")
    write(s.hba_path, "host all alice 127.0.0.1/32 scram-sha-256\nhost all bob 127.0.0.1/32 trust\n")
    s.signal(signal.SIGHUP)
    wait_reloads(s, n + 1)
    with pytest.raises(AssertionError, match="asked for SCRAM"):
        s.raw().startup("alice", "testdb")
    assert login(s, "alice", PW["alice"]).auth_requests[0] == 10
    assert login(s, "bob").auth_requests == [0]
    # who was in stays in
    assert before.scalar("SELECT 1") == "1"
    # an ident file change is read too
    write(s.hba_path, "local all all peer map=m\n")
    write(s.ident_path, f"m {ME} bob\n")
    s.signal(signal.SIGHUP)
    wait_reloads(s, n + 2)
    assert login(s, "bob", unix=True).auth_requests == [0]
    assert refused(s, "alice", unix=True).message == 'Peer authentication failed for user "alice"'
    assert refused(s, "bob").message == tcp_msg("no pg_hba.conf entry", "bob")
