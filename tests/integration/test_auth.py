"""Authentication on both sides.

Client side: auth_type trust, plain, md5 and scram-sha-256 against an
auth_file holding plain, md5 and SCRAM-SHA-256 secrets (the SCRAM secrets are
PostgreSQL's own, read from pg_authid). Wrong password and unknown user get
28P01 with the same message; an unknown database gets 3D000.

Server side: sluice logs in to PostgreSQL as u_trust, u_plain (cleartext),
u_md5 and u_scram, with the password from the database entry or the auth_file.
"""

import psycopg
import pytest

from pgwire import PgError, md5_secret
from pooler import IS_PGBOUNCER, expect

CLIENT_PASSWORDS = {"alice": "Alice-pw-1", "bob": "Bob-pw-2", "carol": "Carol-pw-3"}


@pytest.fixture(scope="module")
def scram_secret_of(pg):
    """SCRAM secrets made by PostgreSQL itself, for auth_file entries."""
    cache = {}

    def get(user, password):
        if (user, password) not in cache:
            role = f"scram_src_{user}"
            pg.execute(f'DROP ROLE IF EXISTS "{role}"')
            with pg.connect() as c:
                c.execute("SET password_encryption = 'scram-sha-256'")
                c.execute(f"CREATE ROLE \"{role}\" PASSWORD '{password}'")
            secret = pg.secret(role)
            assert secret.startswith("SCRAM-SHA-256$")
            cache[(user, password)] = secret
        return cache[(user, password)]

    return get


def client_auth_pooler(sluice, pg, auth_type, secret_kind, scram_secret_of):
    """A pooler whose clients log in with auth_type against secrets of one kind;
    it logs in to PostgreSQL as u_trust whatever the client user."""
    userlist = {}
    for user, pw in CLIENT_PASSWORDS.items():
        if secret_kind == "plain":
            userlist[user] = pw
        elif secret_kind == "md5":
            userlist[user] = md5_secret(user, pw)
        else:
            userlist[user] = scram_secret_of(user, pw)
    userlist["u_trust"] = "pw_trust"
    databases = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb user=u_trust"}
    return sluice(config={"auth_type": auth_type, "pool_mode": "transaction"}, databases=databases, userlist=userlist)


AUTH_MATRIX = [
    ("plain", "plain"),
    ("md5", "plain"),
    ("md5", "md5"),
    ("md5", "scram"),  # PgBouncer: md5 with a SCRAM secret uses SCRAM
    ("scram-sha-256", "plain"),
    ("scram-sha-256", "scram"),
]


EXPECTED_METHOD = {
    ("plain", "plain"): 3,
    ("md5", "plain"): 5,
    ("md5", "md5"): 5,
    ("md5", "scram"): 10,
    ("scram-sha-256", "plain"): 10,
    ("scram-sha-256", "scram"): 10,
}


@pytest.mark.parametrize("auth_type,secret_kind", AUTH_MATRIX)
def test_client_auth_ok(sluice, pg, auth_type, secret_kind, scram_secret_of):
    s = client_auth_pooler(sluice, pg, auth_type, secret_kind, scram_secret_of)
    for user, pw in CLIENT_PASSWORDS.items():
        with s.connect(user=user, password=pw) as c:
            assert c.execute("SELECT current_user").fetchone()[0] == "u_trust"
    # which method the pooler asked for: 3 cleartext, 5 md5, 10 SASL (SCRAM)
    raw = s.raw()
    raw.startup("alice", "testdb", password=CLIENT_PASSWORDS["alice"])
    assert raw.auth_requests[0] == EXPECTED_METHOD[(auth_type, secret_kind)], raw.auth_requests
    assert raw.query("SELECT 1") == [["1"]]


@pytest.mark.parametrize("auth_type,secret_kind", AUTH_MATRIX)
def test_client_auth_wrong_password_and_unknown_user(sluice, pg, auth_type, secret_kind, scram_secret_of):
    s = client_auth_pooler(sluice, pg, auth_type, secret_kind, scram_secret_of)
    with pytest.raises(PgError) as wrong:
        s.raw().startup("alice", "testdb", password="not-the-password")
    with pytest.raises(PgError) as unknown:
        s.raw().startup("mallory", "testdb", password="whatever")
    # PgBouncer 1.18 sends 08P01 here; sluice sends what PostgreSQL does
    assert wrong.value.sqlstate == expect("28P01", "08P01"), wrong.value
    assert unknown.value.sqlstate == expect("28P01", "08P01"), unknown.value
    # same message apart from the user name: nothing tells which users exist
    # (PgBouncer 1.18 says "SASL authentication failed" for a known SCRAM user
    # under md5 but "password authentication failed" for an unknown one)
    if not (IS_PGBOUNCER and (auth_type, secret_kind) == ("md5", "scram")):
        assert wrong.value.message.replace("alice", "USER") == unknown.value.message.replace("mallory", "USER")
    assert wrong.value.severity == "FATAL"
    # psycopg's view of it
    with pytest.raises(psycopg.OperationalError, match="password authentication failed|authentication failed"):
        s.connect(user="alice", password="nope")
    # and the right password still works afterwards
    with s.connect(user="alice", password=CLIENT_PASSWORDS["alice"]) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_client_auth_empty_password_refused(sluice, pg, scram_secret_of):
    s = client_auth_pooler(sluice, pg, "md5", "plain", scram_secret_of)
    with pytest.raises(PgError) as e:
        s.raw().startup("alice", "testdb", password="")
    assert e.value.sqlstate == expect("28P01", "08P01")


def test_trust_accepts_without_password(sluice, pg):
    s = sluice(config={"auth_type": "trust"})
    raw = s.raw()
    raw.startup("u_app", "testdb", password=None)  # would raise if a password were asked
    assert raw.scalar("SELECT current_user") == "u_app"


def test_unknown_database(sluice, pg):
    s = sluice(databases={"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb"})
    with pytest.raises(PgError) as e:
        s.raw().startup("u_app", "no_such_db")
    assert e.value.sqlstate == expect("3D000", "08P01")
    with pytest.raises(psycopg.OperationalError):
        s.connect(dbname="no_such_db")
    with s.connect() as c:  # the known one still works
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_unknown_database_with_password_auth(sluice, pg, scram_secret_of):
    """An unknown database is reported as 3D000 (after, or instead of, auth)."""
    s = client_auth_pooler(sluice, pg, "md5", "plain", scram_secret_of)
    with pytest.raises(PgError) as e:
        s.raw().startup("alice", "no_such_db", password=CLIENT_PASSWORDS["alice"])
    assert e.value.sqlstate == expect("3D000", "08P01")


SERVER_USERS = ["u_trust", "u_plain", "u_md5", "u_scram"]


@pytest.mark.parametrize("server_user", SERVER_USERS)
def test_server_login_password_in_db_entry(sluice, pg, server_user):
    pw = pg.PASSWORDS[server_user]
    databases = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb user={server_user} password={pw}"}
    s = sluice(config={"pool_mode": "transaction"}, databases=databases)
    with s.connect(user="u_app") as c:
        assert c.execute("SELECT current_user").fetchone()[0] == server_user
        assert c.execute("SELECT 2 + 2").fetchone()[0] == 4


@pytest.mark.parametrize("server_user", SERVER_USERS)
def test_server_login_password_from_auth_file(sluice, pg, server_user):
    """The client logs in as the PostgreSQL user; sluice takes the server password
    from auth_file (client auth here is md5 against the same plain secret)."""
    databases = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb"}
    userlist = {u: pg.PASSWORDS[u] for u in SERVER_USERS}
    s = sluice(config={"pool_mode": "transaction", "auth_type": "md5"}, databases=databases, userlist=userlist)
    with s.connect(user=server_user, password=pg.PASSWORDS[server_user]) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == server_user


@pytest.mark.parametrize("server_user", ["u_trust", "u_scram"])
def test_server_login_trust_client_auth_file_password(sluice, pg, server_user):
    """auth_type=trust for clients, yet the server password comes from auth_file."""
    databases = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb"}
    userlist = {u: pg.PASSWORDS[u] for u in SERVER_USERS}
    s = sluice(config={"pool_mode": "transaction", "auth_type": "trust"}, databases=databases, userlist=userlist)
    with s.connect(user=server_user) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == server_user


@pytest.mark.parametrize("server_user", ["u_plain", "u_md5", "u_scram"])
def test_server_login_wrong_password(sluice, pg, server_user):
    """PostgreSQL refuses the pooler's password: the client gets an error, not a hang."""
    databases = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb user={server_user} password=wrong"}
    s = sluice(config={"pool_mode": "transaction", "query_wait_timeout": 5}, databases=databases)
    raw = s.raw(timeout=15)
    try:
        raw.startup("u_app", "testdb")
        raw.query("SELECT 1")
        pytest.fail("a query went through with a wrong server password")
    except PgError as e:
        assert e.sqlstate[:2] in ("08", "28", "57"), e
