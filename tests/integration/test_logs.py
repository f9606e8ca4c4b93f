"""Logging: log_connections / log_disconnections lines, never a password,
logfile and pidfile."""

import os
import signal
import time

import psycopg
import pytest

from pgwire import md5_secret
from pooler import expect


def test_log_never_contains_passwords(sluice, pg):
    secret_client = "Sup3rSecret-client-pw"
    secret_server = "Sup3rSecret-server-pw"
    pg.execute("DROP ROLE IF EXISTS u_logpw")
    pg.execute(f"CREATE ROLE u_logpw LOGIN PASSWORD '{secret_server}'")
    databases = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb user=u_logpw password={secret_server}"}
    s = sluice(
        config={"auth_type": "md5", "pool_mode": "transaction", "log_connections": 1,
                "log_disconnections": 1,
                # PgBouncer 1.18 logs the db entry's password at verbose=2
                "verbose": expect(2, 0)},
        databases=databases,
        userlist={"clara": secret_client},
    )
    with s.connect(user="clara", password=secret_client) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "u_logpw"
    with pytest.raises(psycopg.OperationalError):
        s.connect(user="clara", password=secret_client + "-wrong")
    s.signal(signal.SIGHUP)  # a reload logs too
    time.sleep(0.3)
    log = s.log_text()
    assert "clara" in log, "log_connections logged nothing about the client"
    for secret in (secret_client, secret_server, md5_secret("clara", secret_client)):
        assert secret not in log


def test_log_connection_lines(sluice, pg):
    """log_connections / log_disconnections: a line each, naming the client's
    user and address."""
    s = sluice(config={"log_connections": 1, "log_disconnections": 1})
    before = len(s.log_text())
    with s.connect(user="u_app") as c:
        c.execute("SELECT 1")
    time.sleep(0.3)
    new = s.log_text()[before:]
    lines = [ln for ln in new.splitlines() if "u_app" in ln and "127.0.0.1" in ln]
    assert len(lines) >= 2, f"expected connect and disconnect lines, got:\n{new}"


def test_no_connection_lines_when_off(sluice, pg):
    s = sluice(config={"log_connections": 0, "log_disconnections": 0})
    before = len(s.log_text())
    with s.connect(user="u_app") as c:
        c.execute("SELECT 1")
    time.sleep(0.3)
    new = s.log_text()[before:]
    lines = [ln for ln in new.splitlines() if "u_app" in ln and "127.0.0.1" in ln]
    assert lines == [], f"connection lines logged with log_connections=0:\n{new}"


def test_pidfile_written(sluice, pg):
    s = sluice(start=False)
    pidfile = os.path.join(s.dir, "sluice.pid")
    s.overrides["pidfile"] = pidfile
    s.write_config()
    s.start()
    with open(pidfile) as f:
        assert int(f.read().strip()) == s.pid


def test_logfile_written(sluice, pg):
    s = sluice(start=False)
    logfile = os.path.join(s.dir, "sluice.log")
    s.overrides["logfile"] = logfile
    s.write_config()
    s.start()
    with s.connect() as c:
        c.execute("SELECT 1")
    time.sleep(0.3)
    with open(logfile) as f:
        assert "u_app" in f.read()
