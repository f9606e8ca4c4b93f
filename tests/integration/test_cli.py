"""The command line: --version, --help, --check on good and bad configs."""

import subprocess

import pytest

from pooler import SLUICE_BIN

pytestmark = pytest.mark.sluice_only


def run(*args, timeout=20):
    return subprocess.run([SLUICE_BIN, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def test_version():
    p = run("--version")
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert "sluice" in out.lower()
    assert any(ch.isdigit() for ch in out)


def test_help():
    p = run("--help")
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert "--check" in out
    assert "--version" in out


def test_no_arguments_is_a_usage_error():
    p = run()
    assert p.returncode != 0


def test_unknown_option():
    p = run("--no-such-option")
    assert p.returncode != 0


def write(tmp_path, text, name="sluice.ini"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


GOOD = """\
; a good config
[databases]
testdb = host=127.0.0.1 port=5432 dbname=testdb pool_size=3 pool_mode=transaction
* = host=127.0.0.1 port=5432

[users]
alice = pool_mode=session max_user_connections=3

[sluice]
listen_addr = 127.0.0.1
listen_port = 6432
auth_type = trust
pool_mode = transaction
default_pool_size = 5
query_timeout = 1.5
server_lifetime = 3600
"""


def test_check_good_config(tmp_path):
    p = run("--check", write(tmp_path, GOOD))
    assert p.returncode == 0, p.stdout + p.stderr


def test_check_pgbouncer_section_name(tmp_path):
    p = run("--check", write(tmp_path, GOOD.replace("[sluice]", "[pgbouncer]")))
    assert p.returncode == 0, p.stdout + p.stderr


def test_check_does_not_listen(tmp_path):
    """--check validates and exits; it never starts serving."""
    p = run("--check", write(tmp_path, GOOD), timeout=10)
    assert p.returncode == 0


@pytest.mark.parametrize(
    "line,key",
    [
        ("pool_mode = sometimes", "pool_mode"),
        ("default_pool_size = lots", "default_pool_size"),
        ("listen_port = 99999999", "listen_port"),
        ("auth_type = carrier-pigeon", "auth_type"),
        ("query_timeout = soon", "query_timeout"),
        ("max_client_conn = -5", "max_client_conn"),
    ],
)
def test_check_bad_value_names_file_line_and_key(tmp_path, line, key):
    text = GOOD + line + "\n"
    lineno = len(text.splitlines())
    path = write(tmp_path, text)
    p = run("--check", path)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert f"{path}:{lineno}:" in out, out
    assert key in out, out


def test_check_bad_database_entry(tmp_path):
    text = GOOD.replace("pool_size=3", "pool_size=three")
    path = write(tmp_path, text)
    p = run("--check", path)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert f"{path}:3:" in out, out


def test_check_unknown_key_warns_but_passes(tmp_path):
    path = write(tmp_path, GOOD + "no_such_key = 1\n")
    p = run("--check", path)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "no_such_key" in out, "an unknown key should be warned about"


def test_check_missing_file(tmp_path):
    p = run("--check", str(tmp_path / "does-not-exist.ini"))
    assert p.returncode == 1
    assert "does-not-exist.ini" in p.stdout + p.stderr


def test_run_with_bad_config_exits_nonzero(tmp_path):
    path = write(tmp_path, GOOD + "pool_mode = sometimes\n")
    p = run(path, timeout=10)
    assert p.returncode != 0
    assert f"{path}:" in p.stdout + p.stderr
