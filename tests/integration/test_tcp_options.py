"""tcp_keepalive with tcp_keepidle reaches sluice's sockets on both sides, the
client's and the server's: read back from the kernel as the keepalive timer
that `ss -o` shows. Without tcp_keepidle the system's idle time (hours) stays."""

import re
import subprocess

import psycopg
import pytest

from cluster import wait_for
from pooler import SLACK


def timer_seconds(line):
    """The keepalive timer of one `ss -o` line in seconds, or None (another
    timer, such as a retransmission one while data is unacknowledged). ss
    writes 119min, 1min5sec, 59sec, 6.988ms (6 s 988 ms) or 250ms."""
    m = re.search(r"timer:\(keepalive,([^,]+),", line)
    if not m:
        return None
    t = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?", m.group(1))
    if not t:
        raise AssertionError(f"unexpected ss timer {m.group(1)!r}")
    minutes, secs, ms = (int(x) if x else 0 for x in t.groups())
    return minutes * 60 + secs + ms / 1000.0


def keepalive_timers(pid, port_filter):
    """Keepalive timers (s) of the pooler's established TCP sockets matching port_filter."""
    out = subprocess.run(["ss", "-tnopH", "state", "established", port_filter],
                         capture_output=True, text=True, check=True).stdout
    return [timer_seconds(line) for line in out.splitlines() if f"pid={pid}," in line]


def both_sides(s):
    """(client-side timers, server-side timers) once every socket shows its
    keepalive timer: right after a query the last reply may still be unacknowledged."""
    def read():
        client_side = keepalive_timers(s.proc.pid, f"( sport = :{s.port} )")
        server_side = keepalive_timers(s.proc.pid, f"( dport = :{s.pg.port} )")
        ready = client_side and server_side and None not in client_side + server_side
        return (client_side, server_side) if ready else None
    return wait_for(read, timeout=5 * SLACK, what="keepalive timers on sluice's sockets")


@pytest.mark.timeout(60)
def test_keepidle_on_client_and_server_sockets(sluice):
    s = sluice(config={"tcp_keepalive": 1, "tcp_keepidle": 7, "tcp_keepintvl": 3, "tcp_keepcnt": 2,
                       "tcp_user_timeout": 20000})
    with psycopg.connect(s.dsn(), autocommit=True, connect_timeout=int(10 * SLACK)) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
        client_side, server_side = both_sides(s)
    for t in client_side + server_side:
        assert t <= 7.0, (client_side, server_side)


@pytest.mark.timeout(60)
def test_system_keepalive_timings_without_keepidle(sluice):
    s = sluice(config={"tcp_keepalive": 1})
    with psycopg.connect(s.dsn(), autocommit=True, connect_timeout=int(10 * SLACK)) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
        client_side, server_side = both_sides(s)
    system_idle = int(open("/proc/sys/net/ipv4/tcp_keepalive_time").read())
    for t in client_side + server_side:
        assert t > min(system_idle, 3600) - 60, (client_side, server_side)


def socket_buffers(pid, port_filter):
    """(rcvbuf, sndbuf) bytes of the pooler's sockets matching port_filter, from `ss -m`."""
    out = subprocess.run(["ss", "-tnmpH", "state", "established", port_filter],
                         capture_output=True, text=True, check=True).stdout
    # one socket per entry; ss continues an entry (skmem) on indented lines
    entries = re.split(r"\n(?=\S)", out.strip())
    found = []
    for entry in entries:
        if f"pid={pid}," not in entry:
            continue
        m = re.search(r"skmem:\(r\d+,rb(\d+),t\d+,tb(\d+),", entry)
        assert m, entry
        found.append((int(m.group(1)), int(m.group(2))))
    return found


@pytest.mark.timeout(60)
def test_tcp_socket_buffer_on_client_and_server_sockets(sluice):
    s = sluice(config={"tcp_socket_buffer": 32768})
    with psycopg.connect(s.dsn(), autocommit=True, connect_timeout=int(10 * SLACK)) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
        client_side = socket_buffers(s.proc.pid, f"( sport = :{s.port} )")
        server_side = socket_buffers(s.proc.pid, f"( dport = :{s.pg.port} )")
    assert client_side and server_side
    # the kernel doubles what SO_RCVBUF / SO_SNDBUF ask for
    for rcv, snd in client_side + server_side:
        assert (rcv, snd) == (65536, 65536), (client_side, server_side)
