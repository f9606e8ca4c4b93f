"""systemd's Type=notify without libsystemd: with NOTIFY_SOCKET set, sluice
sends READY=1 (with its MAINPID) once its ports accept connections,
RELOADING=1 then READY=1 around every reload (also one that refuses a broken
file), STOPPING=1 when SIGTERM's drain begins or SIGINT stops it; a socket
that is gone or never read does not hold it up. conf/sluice.service is a
Type=notify unit that reloads with SIGHUP and stops with SIGTERM.

The test plays systemd: it binds an AF_UNIX datagram socket of its own
(a path, or an abstract name) and reads what sluice sends there.
"""

import configparser
import os
import shutil
import signal
import socket
import tempfile
import time
import uuid

import pytest

from admin_helpers import admin_config, console, show
from cluster import wait_for
from pooler import ROOT, SLACK

pytestmark = pytest.mark.sluice_only


class Manager:
    """The service manager's end of NOTIFY_SOCKET."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dir = None
        if abstract:
            name = f"sluice-notify-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.dir = tempfile.mkdtemp(prefix="sluice-notify-", dir="/tmp")
            self.address = os.path.join(self.dir, "notify")
            self.sock.bind(self.address)

    def env(self):
        return {"NOTIFY_SOCKET": self.address}

    def recv(self, timeout=10.0):
        """The next message as {VAR: value}; AssertionError when none comes."""
        self.sock.settimeout(timeout * SLACK)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            raise AssertionError(f"no notification within {timeout * SLACK}s")
        msg = {}
        for line in data.decode().split("\n"):
            key, _, value = line.partition("=")
            msg[key] = value
        return msg

    def nothing_queued(self):
        self.sock.setblocking(False)
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return True
        raise AssertionError(f"unexpected notification {data!r}")

    def close(self):
        self.sock.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=["path", "abstract"])
def manager(request):
    m = Manager(abstract=request.param == "abstract")
    yield m
    m.close()


def accepts(port):
    """Does the port accept a TCP connection right now (no retry)?"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2 * SLACK):
            return True
    except OSError:
        return False


def start_notified(sluice, manager, **config):
    s = sluice(config=admin_config(**config), env=manager.env(), start=False)
    s.start(wait=False)
    ready = manager.recv()
    # the first message is READY=1, and by then both ports accept at once
    assert ready.get("READY") == "1", ready
    assert accepts(s.port) and accepts(s.admin_port)
    return s, ready


def test_ready_with_mainpid_once_listening(sluice, manager):
    s, ready = start_notified(sluice, manager)
    assert ready["MAINPID"] == str(s.pid)
    assert ready.get("STATUS") == "accepting connections"
    with s.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
    manager.nothing_queued()


def test_sighup_reloading_then_ready(sluice, manager):
    s, _ = start_notified(sluice, manager)
    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    s.reload(config={"default_pool_size": 7})
    reloading = manager.recv()
    assert reloading.get("RELOADING") == "1", reloading
    # MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds, taken after the signal
    usec = int(reloading["MONOTONIC_USEC"])
    assert before * 1e6 <= usec <= time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
    ready = manager.recv()
    assert ready.get("READY") == "1" and ready["MAINPID"] == str(s.pid), ready
    assert ready.get("STATUS") == "configuration reloaded"
    assert {r["key"]: r["value"] for r in show(console(s), "CONFIG")}["default_pool_size"] == "7"


def test_broken_file_still_ready_after_reload(sluice, manager):
    s, _ = start_notified(sluice, manager)
    c = s.connect()
    with open(s.config_path, "a") as f:
        f.write("pool_mode = not-a-mode\n")
    s.signal(signal.SIGHUP)
    assert manager.recv().get("RELOADING") == "1"
    ready = manager.recv()
    assert ready.get("READY") == "1", ready
    assert ready.get("STATUS", "").startswith("reload failed"), ready
    assert "reload failed, keeping the running configuration" in s.log_text()
    assert c.execute("SELECT 'still served'").fetchone()[0] == "still served"


def test_admin_reload_notifies_too(sluice, manager):
    s, _ = start_notified(sluice, manager)
    console(s).execute("RELOAD")
    assert manager.recv().get("RELOADING") == "1"
    assert manager.recv().get("READY") == "1"


def test_sigterm_stopping_when_drain_begins(sluice, manager):
    s, _ = start_notified(sluice, manager)
    c = s.connect(autocommit=False)
    c.execute("SELECT 1")  # a transaction in flight holds the drain open
    s.signal(signal.SIGTERM)
    stopping = manager.recv()
    assert stopping.get("STOPPING") == "1", stopping
    assert "draining" in stopping.get("STATUS", "")
    assert s.alive()
    c.commit()
    assert s.wait_exit() == 0
    manager.nothing_queued()


def test_sigint_stopping(sluice, manager):
    s, _ = start_notified(sluice, manager)
    s.signal(signal.SIGINT)
    assert manager.recv().get("STOPPING") == "1"
    s.wait_exit()


def test_socket_gone_or_never_read_does_not_hold_up(sluice, tmp_path):
    """A NOTIFY_SOCKET nobody listens on any more, and one that is never read
    (its queue fills up): sluice starts, reloads and answers as usual."""
    gone = sluice(config=admin_config(), env={"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    m = Manager()
    try:
        full = sluice(config=admin_config(), env=m.env())
        for s in (gone, full):
            a = console(s)
            for _ in range(40):  # more than the socket's queue holds (max_dgram_qlen 10)
                a.execute("RELOAD")
            assert s.alive()
            with s.connect() as c:
                assert c.execute("SELECT 1").fetchone()[0] == 1
    finally:
        m.close()


def test_no_notify_socket_no_messages(sluice):
    """Without NOTIFY_SOCKET nothing is sent: sluice reads no other place (the
    manager's socket stays empty through a start, a reload and a stop)."""
    assert "NOTIFY_SOCKET" not in os.environ
    m = Manager()
    try:
        s = sluice(config=admin_config())
        s.signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in s.log_text(), timeout=5 * SLACK, what="the reload")
        console(s).execute("SHOW VERSION")  # the loop has finished the reload
        s.signal(signal.SIGTERM)
        assert s.wait_exit() == 0
        m.nothing_queued()
    finally:
        m.close()


def service_unit():
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # systemd keys are case-sensitive
    with open(os.path.join(ROOT, "conf", "sluice.service")) as f:
        parser.read_file(f)
    return parser


def test_service_unit():
    unit = service_unit()
    assert set(unit.sections()) >= {"Unit", "Service", "Install"}
    svc = unit["Service"]
    assert svc["Type"] == "notify"
    assert svc["ExecStart"] == "/usr/local/bin/sluice /etc/sluice/sluice.ini"
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert svc["KillSignal"] == "SIGTERM"  # sluice drains on SIGTERM
    # a stop has time for a drain, then systemd kills
    assert int(svc["TimeoutStopSec"]) >= 30
    assert svc["User"] not in ("", "root", "0")
    assert svc["NoNewPrivileges"] == "yes"
    assert svc["ProtectSystem"] == "strict"
    assert int(svc["LimitNOFILE"]) >= 4096
    assert unit["Install"]["WantedBy"] == "multi-user.target"
