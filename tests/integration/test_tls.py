"""
TLS on both sides: client_tls_* (SSLRequest, direct TLS with ALPN, modes up to
verify-full, client certificates), server_tls_* (sluice to PostgreSQL up to
verify-full, cancel requests too), SCRAM-SHA-256-PLUS channel binding, reload
of certificates, the tls/ssl columns of SHOW and the TLS metrics, and bulk
data through TLS with a slow reader.
"""

import os
import re
import ssl
import subprocess
import threading
import time

import psycopg
import pytest

import pgwire
from admin_helpers import admin_config, console, fetch_metrics, prom_parse, prom_value, show
from pooler import SLACK

pytestmark = pytest.mark.sluice_only


def tls_sluice(sluice, pg_ssl, certs, mode="require", server_mode="verify-full", start=True, **config):
    cfg = certs.sluice_settings(mode=mode, server_mode=server_mode)
    cfg.update(admin_config())
    cfg.update(config)
    return sluice(config=cfg, pg_cluster=pg_ssl, start=start)


def backend_ssl(conn):
    """(ssl, version) of the PostgreSQL backend behind this connection."""
    return conn.execute("select ssl, version from pg_stat_ssl where pid = pg_backend_pid()").fetchone()


def wait_log(s, text, timeout=10.0):
    deadline = time.monotonic() + timeout * SLACK
    while text not in s.log_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    return text in s.log_text()


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def psql(s, host, user, sql, **env):
    """Run one statement with psql through sluice, libpq settings from env; its output."""
    env = dict(os.environ, PGCONNECT_TIMEOUT="10", **env)
    out = subprocess.run(
        ["psql", "-X", "-At", "-h", host, "-p", str(s.port), "-U", user, "-d", "testdb", "-c", sql],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30 * SLACK,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# ---------------------------------------------------------------- client side


def test_client_modes_require_verify_ca_verify_full(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs)
    with s.connect(sslmode="require") as c:
        assert c.execute("select 1").fetchone() == (1,)
        assert c.pgconn.ssl_in_use
    with s.connect(sslmode="verify-ca", sslrootcert=certs.ca) as c:
        assert c.execute("select 2").fetchone() == (2,)
    # sluice's certificate names localhost only
    with s.connect(sslmode="verify-full", sslrootcert=certs.ca, host="localhost") as c:
        assert c.execute("select 3").fetchone() == (3,)
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(sslmode="verify-full", sslrootcert=certs.ca, host="127.0.0.1")
    assert 'does not match host name "127.0.0.1"' in str(e.value)
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(sslmode="verify-ca", sslrootcert=certs.other_ca)
    assert "certificate verify failed" in str(e.value)
    # psql, as an operator would
    out = psql(s, "localhost", "u_app", "select 'psql over tls'", PGSSLMODE="verify-full", PGSSLROOTCERT=certs.ca)
    assert out == "psql over tls"


def test_plain_tcp_client_refused_when_tls_is_required(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs)
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(sslmode="disable")
    assert "SSL required" in str(e.value)
    r = s.raw()
    r.negotiated = True  # plain text on purpose, also under the TLS switch
    with pytest.raises(pgwire.PgError) as pe:
        r.startup("u_app", "testdb")
    assert pe.value.sqlstate == "28000"
    # the unix socket needs no TLS, as in PgBouncer
    with psycopg.connect(host=s.dir, port=s.port, user="u_app", dbname="testdb", autocommit=True) as c:
        assert c.execute("select 4").fetchone() == (4,)


def test_disable_answers_n_and_allow_prefer_serve_both(sluice, pg_ssl, certs):
    plain = sluice(pg_cluster=pg_ssl, config={"client_tls_sslmode": "disable"})
    assert plain.raw().request_ssl() == b"N"
    with pytest.raises(psycopg.OperationalError) as e:
        plain.connect(sslmode="require")
    assert "server does not support SSL" in str(e.value)
    for mode in ("allow", "prefer"):
        s = tls_sluice(sluice, pg_ssl, certs, mode=mode, server_mode=None)
        with s.connect(sslmode="require") as c:
            assert c.pgconn.ssl_in_use
        with s.connect(sslmode="disable") as c:
            assert not c.pgconn.ssl_in_use
            assert c.execute("select 5").fetchone() == (5,)


def test_unencrypted_bytes_after_ssl_request_are_refused(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs)
    r = s.raw()
    # SSLRequest and a start-up packet in one write: the second part would bypass TLS
    r.send(b"\x00\x00\x00\x08\x04\xd2\x16\x2f" + pgwire.startup_packet({"user": "u_app", "database": "testdb"}))
    kind, fields, closed = r.error_or_close()
    assert kind == "error" and closed
    assert fields["C"] == "08P01"
    assert fields["M"] == "received unencrypted data after SSL request"
    # a second SSLRequest inside TLS is a protocol violation
    r = s.raw()
    assert r.ssl_if_offered() == b"S"
    r.send(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")
    kind, fields, closed = r.error_or_close()
    assert kind == "error" and fields["C"] == "08P01" and closed


def test_direct_tls_needs_alpn_postgresql(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs)
    r = s.raw()
    r.start_tls(pgwire.client_tls_context(cafile=certs.ca))
    assert r.sock.selected_alpn_protocol() == "postgresql"
    r.startup("u_app", "testdb")
    assert r.scalar("select 'direct'") == "direct"
    # without ALPN: the handshake may finish, then the connection is closed, as PostgreSQL 17 does
    r = s.raw()
    r.start_tls(pgwire.client_tls_context(alpn=None))
    closed, msgs = r.wait_closed(timeout=5 * SLACK)
    assert closed and msgs == []
    # another protocol: refused in the handshake (no_application_protocol)
    r = s.raw()
    with pytest.raises(ssl.SSLError):
        r.start_tls(pgwire.client_tls_context(alpn=("http/1.1",)))
    assert wait_log(s, "direct TLS connection without ALPN")
    # with TLS off, a ClientHello is not a start-up packet: closed without a reply
    plain = sluice(pg_cluster=pg_ssl, config={"client_tls_sslmode": "disable"})
    r = plain.raw()
    with pytest.raises((ssl.SSLError, OSError)):
        r.start_tls(pgwire.client_tls_context())


def test_client_certificate_required_by_verify_ca(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs, mode="verify-ca")
    crt, key = certs.client("u_app")
    with s.connect(sslmode="require", sslcert=crt, sslkey=key) as c:
        assert c.execute("select 6").fetchone() == (6,)
    with pytest.raises(psycopg.OperationalError):
        s.connect(sslmode="require")
    assert wait_log(s, "TLS handshake failed: peer did not return a certificate")
    bad_crt, bad_key = certs.client("u_app", ca="other-ca")
    with pytest.raises(psycopg.OperationalError):
        s.connect(sslmode="require", sslcert=bad_crt, sslkey=bad_key)
    assert wait_log(s, "TLS handshake failed: certificate verify failed: unable to get local issuer")


# ---------------------------------------------------------------- server side


def test_server_verify_full_by_address_and_by_name(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs, mode="disable")
    with s.connect() as c:
        assert backend_ssl(c) == (True, "TLSv1.3")
    byname = sluice(pg_cluster=pg_ssl, config=certs.sluice_settings(mode="disable", server_mode="verify-full"),
                    databases={"testdb": f"host=localhost port={pg_ssl.port} dbname=testdb"})
    with byname.connect() as c:
        assert backend_ssl(c)[0] is True


def test_server_verify_failures_are_clear(sluice, pg_ssl, certs):
    # 127.0.0.9 is not in PostgreSQL's certificate
    s = sluice(pg_cluster=pg_ssl, config=certs.sluice_settings(mode="disable", server_mode="verify-full"),
               databases={"testdb": f"host=127.0.0.9 port={pg_ssl.port} dbname=testdb"})
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect()
    assert "certificate verify failed" in str(e.value) and "mismatch" in str(e.value)
    # verify-ca does not look at the name
    ca_only = sluice(pg_cluster=pg_ssl, config=certs.sluice_settings(mode="disable", server_mode="verify-ca"),
                     databases={"testdb": f"host=127.0.0.9 port={pg_ssl.port} dbname=testdb"})
    with ca_only.connect() as c:
        assert backend_ssl(c)[0] is True
    # the wrong CA
    cfg = certs.sluice_settings(mode="disable", server_mode="verify-full")
    cfg["server_tls_ca_file"] = certs.other_ca
    wrong = sluice(pg_cluster=pg_ssl, config=cfg)
    with pytest.raises(pgwire.PgError) as e:
        wrong.raw().startup("u_app", "testdb")
    assert e.value.sqlstate == "08006"
    assert "could not connect to the server: TLS handshake failed: certificate verify failed" in e.value.fields["M"]
    m = prom_parse(fetch_metrics(wrong))
    assert prom_value(m, "sluice_tls_handshake_failures_total", side="server") >= 1


def test_server_modes_against_postgresql_without_ssl(sluice, pg, certs):
    if pg.certs:
        pytest.skip("the shared PostgreSQL has ssl = on under the TLS switch")
    with sluice(config={"server_tls_sslmode": "prefer"}).connect() as c:
        assert backend_ssl(c) == (False, None)
    s = sluice(config={"server_tls_sslmode": "require"})
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect()
    assert "server does not support TLS" in str(e.value)


def test_server_disable_and_prefer_against_postgresql_with_ssl(sluice, pg_ssl):
    with sluice(pg_cluster=pg_ssl, config={"server_tls_sslmode": "disable"}).connect() as c:
        assert backend_ssl(c)[0] is False
    with sluice(pg_cluster=pg_ssl, config={"server_tls_sslmode": "prefer"}).connect() as c:
        assert backend_ssl(c)[0] is True


def test_server_client_certificate(sluice, pg_ssl, certs):
    """server_tls_cert_file/key_file: PostgreSQL's cert method accepts sluice's certificate."""
    pg_ssl.execute("do $$ begin create role u_certsrv login; exception when duplicate_object then null; end $$")
    pg_ssl.add_hba_first("hostssl all u_certsrv 127.0.0.1/32 cert")
    crt, key = certs.client("u_certsrv")
    cfg = certs.sluice_settings(mode="disable", server_mode="verify-full")
    s = sluice(pg_cluster=pg_ssl, config=dict(cfg, server_tls_cert_file=crt, server_tls_key_file=key))
    with s.connect(user="u_certsrv") as c:
        assert c.execute("select current_user").fetchone() == ("u_certsrv",)
    without = sluice(pg_cluster=pg_ssl, config=cfg)
    with pytest.raises(psycopg.OperationalError):
        without.connect(user="u_certsrv")


def test_cancel_goes_over_tls(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs, server_mode="verify-full")
    c = s.connect(sslmode="require")
    done = {}

    def run():
        try:
            c.execute("select pg_sleep(30)")
            done["result"] = "finished"
        except psycopg.errors.QueryCanceled:
            done["result"] = "canceled"

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5 * SLACK)
    start = time.monotonic()
    c.cancel()
    t.join(20 * SLACK)
    assert done.get("result") == "canceled"
    assert time.monotonic() - start < 10 * SLACK


# ---------------------------------------------------------------- channel binding


def test_scram_channel_binding(sluice, pg_ssl, certs):
    cfg = certs.sluice_settings(mode="prefer", server_mode="verify-full")
    cfg["auth_type"] = "scram-sha-256"
    s = sluice(pg_cluster=pg_ssl, config=cfg, userlist={"u_scram": pg_ssl.PASSWORDS["u_scram"]})
    pw = pg_ssl.PASSWORDS["u_scram"]
    with s.connect(user="u_scram", password=pw, sslmode="require", channel_binding="require") as c:
        assert c.execute("select current_user").fetchone() == ("u_scram",)
    # psql, as an operator would
    out = psql(s, "127.0.0.1", "u_scram", "select 'bound'", PGPASSWORD=pw, PGSSLMODE="require",
               PGCHANNELBINDING="require")
    assert out == "bound"
    # libpq refuses when the server offers no binding (plain TCP)
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(user="u_scram", password=pw, sslmode="disable", channel_binding="require")
    assert "channel binding" in str(e.value)
    # a wrong password still fails under PLUS
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(user="u_scram", password="wrong", sslmode="require", channel_binding="require")
    assert "password authentication failed" in str(e.value)
    # what is offered: PLUS first over TLS, never over plain TCP
    r = s.raw()
    r.ssl_if_offered()
    r.send(pgwire.startup_packet({"user": "u_scram", "database": "testdb"}))
    mtype, body = r.recv_msg()
    assert mtype == b"R" and body[4:].split(b"\0")[:2] == [b"SCRAM-SHA-256-PLUS", b"SCRAM-SHA-256"]
    r = s.raw()
    r.send(pgwire.startup_packet({"user": "u_scram", "database": "testdb"}))
    mtype, body = r.recv_msg()
    assert mtype == b"R" and body[4:].split(b"\0")[0] == b"SCRAM-SHA-256"


# ---------------------------------------------------------------- insight


def test_show_columns_and_metrics(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs, mode="prefer")
    c = s.connect(sslmode="require", application_name="tls_app")
    plain = s.connect(sslmode="disable", application_name="plain_app")
    c.execute("select 1")
    plain.execute("select 1")
    admin = console(s, sslmode="disable")
    clients = {r["application_name"]: r for r in show(admin, "CLIENTS")}
    assert re.match(r"^TLSv1\.[23]/[A-Z0-9_-]+/ECDH=\w+$", clients["tls_app"]["tls"]), clients["tls_app"]
    assert clients["plain_app"]["tls"] == ""
    servers = show(admin, "SERVERS")
    assert servers and all(r["tls"].startswith("TLSv1.3/") for r in servers)
    act = {r["application_name"]: r for r in show(admin, "ACTIVITY")}
    assert act["tls_app"]["ssl"] is True and act["tls_app"]["ssl_version"] == "TLSv1.3"
    assert act["tls_app"]["ssl_cipher"]
    assert act["plain_app"]["ssl"] is False and act["plain_app"]["ssl_version"] is None
    # a client that gives up in the handshake counts as a failure
    with pytest.raises(psycopg.OperationalError):
        s.connect(sslmode="verify-ca", sslrootcert=certs.other_ca)
    assert wait_log(s, "TLS handshake failed")
    m = prom_parse(fetch_metrics(s))
    assert prom_value(m, "sluice_tls_connections", side="client") >= 1
    assert prom_value(m, "sluice_tls_connections", side="server") >= 1
    assert prom_value(m, "sluice_tls_handshakes_total", side="client") >= 1
    assert prom_value(m, "sluice_tls_handshakes_total", side="server") >= 1
    assert prom_value(m, "sluice_tls_handshake_failures_total", side="client") >= 1


# ---------------------------------------------------------------- reload, config


def served_cert(s):
    r = s.raw()
    r.ssl_if_offered()
    der = r.sock.getpeercert(binary_form=True)
    r.close()
    return der


def reload_and_wait(s, config):
    """Reload and wait until sluice logged the outcome (so the next rewrite cannot race it)."""
    def outcomes():
        log = s.log_text()
        return log.count("configuration reloaded") + log.count("reload failed")

    before = outcomes()
    s.reload(config=config)
    deadline = time.monotonic() + 10 * SLACK
    while outcomes() == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert outcomes() > before


def test_reload_swaps_certificates_and_keeps_old_on_error(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs)
    old = s.connect(sslmode="require")
    assert served_cert(s) == der_of(certs.sluice[0])
    reload_and_wait(s, {"client_tls_cert_file": certs.sluice2[0], "client_tls_key_file": certs.sluice2[1]})
    assert served_cert(s) == der_of(certs.sluice2[0])
    assert old.execute("select 7").fetchone() == (7,)  # open sessions keep theirs
    # a missing file, then a key that does not match: the reload fails, the running TLS stays
    reload_and_wait(s, {"client_tls_cert_file": "/nonexistent/sluice.crt"})
    reload_and_wait(s, {"client_tls_cert_file": certs.sluice[0]})  # sluice2's key stays: mismatch
    log = s.log_text()
    assert "client_tls_cert_file: /nonexistent/sluice.crt: No such file or directory" in log
    assert "client_tls_key_file: " + certs.sluice2[1] + ": does not match the certificate" in log
    assert served_cert(s) == der_of(certs.sluice2[0])
    with s.connect(sslmode="require") as c:
        assert c.execute("select 8").fetchone() == (8,)


def test_reload_of_server_tls_reconnects_servers(sluice, pg_ssl, certs):
    """A changed server_tls_* key applies to the pooled servers too, not only to new ones."""
    cfg = certs.sluice_settings(mode="disable", server_mode="disable")
    s = sluice(pg_cluster=pg_ssl, config=dict(cfg, pool_mode="transaction", default_pool_size=1))
    with s.connect() as c:
        assert backend_ssl(c)[0] is False
        (old_pid,) = c.execute("select pg_backend_pid()").fetchone()
        c.commit()
        reload_and_wait(s, {"server_tls_sslmode": "verify-full"})
        # the server this client was using is replaced at its next transaction
        assert backend_ssl(c) == (True, "TLSv1.3")
        assert c.execute("select pg_backend_pid()").fetchone()[0] != old_pid


def test_bad_tls_config_refused_at_start_and_by_set(sluice, pg_ssl, certs):
    s = sluice(pg_cluster=pg_ssl, start=False, config={
        "client_tls_sslmode": "require", "client_tls_cert_file": None, "client_tls_key_file": None})
    s.start(wait=False)
    assert s.wait_exit() != 0
    assert "client_tls_sslmode: require: needs client_tls_cert_file and client_tls_key_file" in s.log_text()
    out = subprocess.run([s.command()[0], "--check", s.config_path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "needs client_tls_cert_file" in out.stdout + out.stderr
    # SET of a TLS key that cannot work: refused, the old value stays
    ok = sluice(pg_cluster=pg_ssl, config=admin_config(
        client_tls_sslmode="disable", client_tls_cert_file=None, client_tls_key_file=None))
    admin = console(ok)
    with pytest.raises(psycopg.errors.InvalidParameterValue) as e:
        admin.execute("SET client_tls_sslmode = require")
    assert "needs client_tls_cert_file" in str(e.value)
    cfgrows = {r["key"]: r["value"] for r in show(admin, "CONFIG")}
    assert cfgrows["client_tls_sslmode"] == "disable"
    assert ok.raw().request_ssl() == b"N"
    # and one that can: TLS from the next client on
    admin.execute(f"SET client_tls_cert_file = '{certs.sluice[0]}'")
    admin.execute(f"SET client_tls_key_file = '{certs.sluice[1]}'")
    admin.execute("SET client_tls_sslmode = prefer")
    with ok.connect(sslmode="require") as c:
        assert c.pgconn.ssl_in_use


# ---------------------------------------------------------------- bulk data


def test_bulk_both_ways_and_a_slow_reader(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs, pool_mode="transaction", default_pool_size=2)
    c = s.connect(sslmode="require")
    direct = pg_ssl.connect()
    q = "select md5(string_agg(repeat(md5(g::text), 200), '')) from generate_series(1, 3000) g"
    assert c.execute(q).fetchone() == direct.execute(q).fetchone()
    # COPY in: 8 MB through TLS on both sides
    c.execute("create table if not exists tls_bulk (t text)")
    c.execute("truncate tls_bulk")
    row = ("x" * 4000 + "\n").encode()
    with c.cursor().copy("copy tls_bulk from stdin") as cp:
        for _ in range(2000):
            cp.write(row)
    assert c.execute("select count(*), sum(length(t)) from tls_bulk").fetchone() == (2000, 8000000)
    # a raw TLS client that reads 12 MB slowly while another client keeps working
    r = s.raw(timeout=60)
    r.ssl_if_offered()
    r.startup("u_app", "testdb")
    r.send(pgwire.query_message("select repeat('y', 4000) from generate_series(1, 3000)"))
    other = s.connect(sslmode="require")
    got = 0
    rows = 0
    worst = 0.0
    while True:
        t0 = time.monotonic()
        assert other.execute("select 1").fetchone() == (1,)
        worst = max(worst, time.monotonic() - t0)
        time.sleep(0.002)
        mtype, body = r.recv_msg()
        if mtype == b"D":
            rows += 1
            got += len(body)
        if mtype == b"Z":
            break
    assert rows == 3000 and got >= 3000 * 4000
    print(f"slow TLS reader: {rows} rows; other client's worst latency {worst * 1000:.1f} ms")
    direct.close()


def test_many_tls_clients_at_once(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs, pool_mode="transaction", default_pool_size=4, max_client_conn=300)
    errors = []

    def worker(i):
        try:
            with psycopg.connect(s.dsn(sslmode="require"), autocommit=True, connect_timeout=int(30 * SLACK)) as c:
                for _ in range(5):
                    assert c.execute("select %s::int", (i,)).fetchone() == (i,)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120 * SLACK)
    assert errors == [], errors[:3]


# ---------------------------------------------------------------- certificates as credentials


def test_auth_type_cert(sluice, pg_ssl, certs):
    """auth_type = cert: the verified certificate's common name is the user."""
    s = tls_sluice(sluice, pg_ssl, certs, mode="require", auth_type="cert")
    crt, key = certs.client("u_app")
    with s.connect(sslmode="require", sslcert=crt, sslkey=key) as c:
        assert c.execute("select current_user").fetchone() == ("u_app",)
    # a good certificate for someone else
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(user="u_trust", sslmode="require", sslcert=crt, sslkey=key)
    assert 'certificate authentication failed for user "u_trust"' in str(e.value)
    # no certificate (require asks for one but does not insist)
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(sslmode="require")
    assert "connection requires a valid client certificate" in str(e.value)
    # plain text over the unix socket: no certificate at all
    with pytest.raises(psycopg.OperationalError) as e:
        psycopg.connect(host=s.dir, port=s.port, user="u_app", dbname="testdb")
    assert "the connection does not use TLS" in str(e.value)


def test_hostssl_hostnossl_and_cert_rules(sluice, pg_ssl, certs):
    s = tls_sluice(sluice, pg_ssl, certs, mode="prefer", auth_type="hba", start=False)
    hba = os.path.join(s.dir, "hba.conf")
    ident = os.path.join(s.dir, "ident.conf")
    with open(hba, "w") as f:
        f.write("hostssl all u_trust 127.0.0.1/32 cert map=certs\n"
                "hostssl all all 127.0.0.1/32 trust\n"
                "hostnossl all all 127.0.0.1/32 reject\n")
    with open(ident, "w") as f:
        f.write("certs  /^(.*)-cert$  \\1\n")
    s.overrides.update(auth_hba_file=hba, auth_ident_file=ident)
    s.write_config()
    s.start()
    with s.connect(sslmode="require") as c:
        assert c.execute("select 9").fetchone() == (9,)
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(sslmode="disable")
    assert ('pg_hba.conf rejects connection for host "127.0.0.1", user "u_app", database "testdb", '
            "no encryption") in str(e.value)
    # cert with a map: CN "u_trust-cert" may log in as u_trust, CN "u_app" may not
    crt, key = certs.client("u_trust-cert")
    with s.connect(user="u_trust", sslmode="require", sslcert=crt, sslkey=key) as c:
        assert c.execute("select current_user").fetchone() == ("u_trust",)
    crt, key = certs.client("u_app")
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(user="u_trust", sslmode="require", sslcert=crt, sslkey=key)
    assert 'certificate authentication failed for user "u_trust"' in str(e.value)
