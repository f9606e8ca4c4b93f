"""Configuration without a file: DATABASE_URL (or --database-url) alone makes
a ready pooler for that database; SLUICE_<KEY> and SLUICE_<KEY>_FILE in the
environment override any key, over a file too; SHOW CONFIG says where every
value came from; secrets can come from files and never show in a command line
or a message."""

import os
import signal
import subprocess

import psycopg
import pytest

from admin_helpers import console, show
from cluster import wait_for
from pooler import IS_PGBOUNCER, SLACK, SLUICE_BIN, pg_error_code

pytestmark = pytest.mark.skipif(IS_PGBOUNCER, reason="sluice's own configuration sources")


def url(pg, user="u_scram", password="pw_scram", db="testdb", query=""):
    auth = f"{user}:{password}@" if password is not None else f"{user}@"
    return f"postgresql://{auth}127.0.0.1:{pg.port}/{db}{query}"


def config_rows(s, user):
    """SHOW CONFIG as {key: row}, through the console as `user` (an admin user)."""
    return {r["key"]: r for r in show(console(s, user=user, password="pw_scram"), "CONFIG")}


def run_sluice(args, env, timeout=10):
    """Run the binary to completion (a refused configuration exits at once)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_") and k != "DATABASE_URL"}
    full.update(env)
    return subprocess.run([SLUICE_BIN, *args], env=full, capture_output=True, text=True,
                          timeout=timeout * SLACK, stdin=subprocess.DEVNULL)


def test_database_url_alone_makes_a_transaction_pooler(sluice, pg):
    s = sluice(no_config=True, env={"DATABASE_URL": url(pg), "SLUICE_ADMIN_USERS": "u_scram"})
    c = s.connect(user="u_scram", password="pw_scram")
    assert c.execute("SELECT current_user, current_database()").fetchone() == ("u_scram", "testdb")
    # transaction mode: two clients, one server, both served in turn
    c2 = s.connect(user="u_scram", password="pw_scram")
    assert c2.execute("SELECT 2").fetchone()[0] == 2

    rows = config_rows(s, "u_scram")
    assert rows["pool_mode"]["value"] == "transaction"
    assert rows["pool_mode"]["source"] == "DATABASE_URL"
    assert rows["auth_type"]["value"] == "scram-sha-256"
    assert rows["unix_socket_dir"]["value"] == ""
    assert rows["listen_addr"]["value"] == "127.0.0.1"
    assert rows["listen_addr"]["source"] == "default"
    assert rows["listen_port"]["source"] == "env SLUICE_LISTEN_PORT"
    assert rows["admin_users"]["source"] == "env SLUICE_ADMIN_USERS"
    assert not any(f.startswith(".s.PGSQL") for f in os.listdir(s.dir)), "no unix socket without a file"
    assert "pooling database \"testdb\"" in s.log_text()


def test_database_url_clients_need_the_urls_password(sluice, pg, role):
    s = sluice(no_config=True, env={"DATABASE_URL": url(pg)})
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(user="u_scram", password="wrong")
    assert "password authentication failed" in str(e.value)
    # any other user is unknown to a URL-made pooler
    with pytest.raises(psycopg.OperationalError) as e:
        s.connect(user=role, password="pw_scram")
    assert "password authentication failed" in str(e.value)
    assert s.connect(user="u_scram", password="pw_scram").execute("SELECT 1").fetchone()[0] == 1
    assert "pw_scram" not in s.log_text()


def test_database_url_from_a_file_is_reread_on_reload(sluice, pg, role, tmp_path):
    """DATABASE_URL_FILE (a mounted Secret): the password never appears in the
    process's command line or environment, and a reload picks up a rotated one."""
    pg.execute(f"ALTER ROLE {role} PASSWORD 'first-secret'")
    f = tmp_path / "database_url"
    f.write_text(url(pg, user=role, password="first-secret") + "\n")
    s = sluice(no_config=True, env={"DATABASE_URL_FILE": str(f)})
    assert s.connect(user=role, password="first-secret").execute("SELECT 1").fetchone()[0] == 1
    with open(f"/proc/{s.pid}/cmdline", "rb") as p:
        assert b"first-secret" not in p.read()
    with open(f"/proc/{s.pid}/environ", "rb") as p:
        assert b"first-secret" not in p.read()

    f.write_text(url(pg, user=role, password="second-secret"))
    s.signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in s.log_text(), timeout=5 * SLACK, what="the reload")

    def new_password_works():
        try:
            return s.connect(user=role, password="second-secret").execute("SELECT 1").fetchone()[0] == 1
        except psycopg.OperationalError:
            return False
    wait_for(new_password_works, timeout=5 * SLACK, what="the rotated password")
    with pytest.raises(psycopg.OperationalError):
        s.connect(user=role, password="first-secret")
    assert "first-secret" not in s.log_text() and "second-secret" not in s.log_text()


def test_env_overrides_a_file_and_show_config_says_where(sluice, pg, role, tmp_path):
    size = tmp_path / "pool_size"
    size.write_text("7\n")
    s = sluice(config={"pool_mode": "session", "admin_users": role, "max_client_conn": 50},
               env={"SLUICE_POOL_MODE": "transaction", "SLUICE_DEFAULT_POOL_SIZE_FILE": str(size)})
    rows = {r["key"]: r for r in show(console(s, user=role), "CONFIG")}
    assert rows["pool_mode"]["value"] == "transaction"
    assert rows["pool_mode"]["source"] == "env SLUICE_POOL_MODE"
    assert rows["default_pool_size"]["value"] == "7"
    assert rows["default_pool_size"]["source"] == f"env SLUICE_DEFAULT_POOL_SIZE_FILE ({size})"
    assert rows["max_client_conn"]["value"] == "50"
    # the file's own line: "path:line"
    path, line = rows["max_client_conn"]["source"].rsplit(":", 1)
    assert path == s.config_path
    with open(s.config_path) as f:
        assert f.read().splitlines()[int(line) - 1].startswith("max_client_conn = 50")
    assert rows["server_lifetime"]["source"] == "default"
    # an admin SET says so; a reload goes back to the file and the environment
    console(s, user=role).execute("SET default_pool_size = 9")
    rows = {r["key"]: r for r in show(console(s, user=role), "CONFIG")}
    assert (rows["default_pool_size"]["value"], rows["default_pool_size"]["source"]) == ("9", "SET")
    # the environment still wins after a reload that changes the file
    s.reload(config={"pool_mode": "statement"})
    wait_for(lambda: "configuration reloaded" in s.log_text(), timeout=5 * SLACK, what="the reload")
    rows = {r["key"]: r for r in show(console(s, user=role), "CONFIG")}
    assert rows["pool_mode"]["value"] == "transaction"
    assert rows["default_pool_size"]["value"] == "7"


@pytest.mark.parametrize("env,args,want", [
    ({}, [], "no configuration: give a CONFIG file, or set DATABASE_URL"),
    ({"DATABASE_URL": "mysql://u:hunter2@h/db"}, [], "must begin with postgresql://"),
    ({"DATABASE_URL": "postgresql://u:hunter2@h1,h2/db"}, [], "several hosts are not supported"),
    ({"DATABASE_URL": "postgresql://u:hunter2@h:99999/db"}, [], "port must be a number"),
    ({"DATABASE_URL": "postgresql://u:hunter2@h/db?sslmode=sometimes"}, [], "server_tls_sslmode"),
    ({"DATABASE_URL": "postgresql://u:hunter2@h/db?target_session_attrs=any"}, [],
     'unknown parameter "target_session_attrs"'),
    ({"DATABASE_URL": "postgresql://u:hunter2%zz@h/db"}, [], "invalid percent-encoding"),
    ({"DATABASE_URL": "postgresql://:hunter2@h/db"}, [], "no user name"),
    ({"DATABASE_URL": "postgresql://u:hunter2@h/db", "SLUICE_DEFAULT_POOL_SIZE": "many"}, [],
     "SLUICE_DEFAULT_POOL_SIZE: default_pool_size:"),
    ({"DATABASE_URL": "postgresql://u:hunter2@h/db", "SLUICE_POOL_MODE": "a",
      "SLUICE_POOL_MODE_FILE": "/dev/null"}, [], "SLUICE_POOL_MODE and SLUICE_POOL_MODE_FILE are both set"),
    ({"DATABASE_URL": "postgresql://u:hunter2@h/db", "SLUICE_AUTH_USER_FILE": "/nonexistent/x"}, [],
     "SLUICE_AUTH_USER_FILE: /nonexistent/x: No such file or directory"),
    ({"DATABASE_URL": "postgresql://u:hunter2@h/db", "SLUICE_AUTH_TYPE": "hba"}, [],
     "auth_type: hba needs auth_hba_file"),
    ({"DATABASE_URL_FILE": "/dev/null", "DATABASE_URL": "postgresql://u:hunter2@h/db"}, [],
     "DATABASE_URL and DATABASE_URL_FILE are both set"),
    ({}, ["--database-url", "postgresql://u:hunter2@h/db", "some.ini"], "not both"),
])
def test_bad_environment_is_refused_with_a_clear_message(env, args, want):
    r = run_sluice(args, env)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert want in r.stderr, r.stderr
    assert "hunter2" not in r.stderr + r.stdout


def test_check_validates_a_database_url(pg):
    r = run_sluice(["--check"], {"DATABASE_URL": url(pg)})
    assert r.returncode == 0, r.stderr
    assert "DATABASE_URL: configuration is valid" in r.stdout


def test_unknown_sluice_variable_is_warned_about(sluice, pg):
    s = sluice(no_config=True, env={"DATABASE_URL": url(pg), "SLUICE_DEFAULT_POOLSIZE": "3"})
    assert "SLUICE_DEFAULT_POOLSIZE is not a sluice setting, ignored" in s.log_text()


def test_database_url_command_line_and_url_parameters(sluice, pg):
    """--database-url, a percent-encoded password and ?sslmode= reaching server_tls_sslmode."""
    pg.execute("DO $$ BEGIN CREATE ROLE u_url_pct LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    pg.execute("ALTER ROLE u_url_pct PASSWORD 'p@ss/w:rd'")
    s = sluice(no_config=True, start=False, env={"SLUICE_ADMIN_USERS": "u_url_pct"})
    s.extra_args = ["--database-url",
                    f"postgresql://u_url_pct:p%40ss%2Fw%3Ard@127.0.0.1:{pg.port}/testdb?sslmode=disable"]
    s.start()
    c = s.connect(user="u_url_pct", password="p@ss/w:rd")
    assert c.execute("SELECT current_user").fetchone()[0] == "u_url_pct"
    rows = {r["key"]: r for r in show(console(s, user="u_url_pct", password="p@ss/w:rd"), "CONFIG")}
    assert (rows["server_tls_sslmode"]["value"], rows["server_tls_sslmode"]["source"]) == ("disable", "DATABASE_URL")


def test_config_watch_without_a_file_is_refused_politely(sluice, pg):
    """config_watch from the environment, with no file to watch: a warning, not a crash."""
    s = sluice(no_config=True, env={"DATABASE_URL": url(pg), "SLUICE_CONFIG_WATCH": "1"})
    assert s.connect(user="u_scram", password="pw_scram").execute("SELECT 1").fetchone()[0] == 1
    assert "config_watch: there is no config file to watch" in s.log_text()
