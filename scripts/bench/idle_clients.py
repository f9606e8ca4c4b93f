#!/usr/bin/python3
"""Open N idle, logged-in PostgreSQL client connections and hold them.

usage: idle_clients.py HOST PORT USER DBNAME N [WINDOW]

Each connection sends a protocol 3.0 StartupMessage (no SSL), expects
AuthenticationOk (trust), and reads until ReadyForQuery.  At most WINDOW
(default 200) logins are in flight at a time, so the listener's backlog never
overflows.  When every login has finished (or failed), and after checking that
nothing was closed or sent afterwards, it prints one line on stdout:

    ready ok=N failed=F closed=C seconds=S

and then sleeps, holding the sockets, until it is killed.  Errors go to stderr.
"""
import os
import selectors
import signal
import socket
import struct
import sys
import time


def startup_packet(user, dbname):
    body = struct.pack("!I", 196608)
    for k, v in (("user", user), ("database", dbname), ("application_name", "idle_clients")):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


class Conn:
    __slots__ = ("sock", "out", "inbuf", "done")

    def __init__(self, sock, out):
        self.sock = sock
        self.out = out
        self.inbuf = b""
        self.done = False


def main():
    host, port, user, dbname, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    window = int(sys.argv[6]) if len(sys.argv) > 6 else 200
    pkt = startup_packet(user, dbname)
    sel = selectors.DefaultSelector()
    held = []
    started = ok = failed = 0
    inflight = 0
    errors = {}
    t0 = time.monotonic()
    deadline = t0 + 300

    def fail(c, why):
        nonlocal failed, inflight
        failed += 1
        inflight -= 1
        errors[why] = errors.get(why, 0) + 1
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    while ok + failed < n:
        while inflight < window and started < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            started += 1
            inflight += 1
            c = Conn(s, pkt)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            except OSError as e:
                s.close()
                inflight -= 1
                failed += 1
                errors["connect: " + e.strerror] = errors.get("connect: " + e.strerror, 0) + 1
                continue
            sel.register(s, selectors.EVENT_WRITE, c)
        if time.monotonic() > deadline:
            print("idle_clients: timed out with %d logins pending" % inflight, file=sys.stderr)
            break
        for key, ev in sel.select(timeout=1.0):
            c = key.data
            s = c.sock
            if ev & selectors.EVENT_WRITE and c.out:
                try:
                    k = s.send(c.out)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail(c, "send: " + e.strerror)
                    continue
                c.out = c.out[k:]
                if not c.out:
                    sel.modify(s, selectors.EVENT_READ, c)
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail(c, "recv: " + e.strerror)
                    continue
                if not data:
                    fail(c, "closed during login")
                    continue
                c.inbuf += data
                while len(c.inbuf) >= 5:
                    typ = c.inbuf[0:1]
                    ln = struct.unpack("!I", c.inbuf[1:5])[0]
                    if len(c.inbuf) < 1 + ln:
                        break
                    body = c.inbuf[5:1 + ln]
                    c.inbuf = c.inbuf[1 + ln:]
                    if typ == b"R":
                        code = struct.unpack("!I", body[:4])[0]
                        if code != 0:
                            fail(c, "authentication request %d (not trust)" % code)
                            break
                    elif typ == b"E":
                        msg = body.split(b"\0M", 1)[-1].split(b"\0", 1)[0].decode(errors="replace")
                        fail(c, "ErrorResponse: " + msg)
                        break
                    elif typ == b"Z":
                        sel.unregister(s)
                        c.done = True
                        held.append(s)
                        ok += 1
                        inflight -= 1
                        break
    took = time.monotonic() - t0
    # Nothing should arrive on an idle, logged-in connection.
    time.sleep(1.0)
    closed = 0
    chk = selectors.DefaultSelector()
    for s in held:
        chk.register(s, selectors.EVENT_READ)
    for key, _ in chk.select(timeout=0.2):
        closed += 1
    for why, cnt in sorted(errors.items()):
        print("idle_clients: %d x %s" % (cnt, why), file=sys.stderr)
    print("ready ok=%d failed=%d closed=%d seconds=%.1f" % (ok, failed, closed, took), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
