#!/bin/bash
# scripts/login_storm.sh: N clients log in through sluice with SCRAM at once.
#
#   scripts/login_storm.sh            N=10000, both secret kinds, one after the other
#
# It installs what is missing, builds sluice (build-release/, -Werror) unless
# SLUICE_BIN names a binary, starts a throwaway PostgreSQL (host logins need
# scram-sha-256) and sluice with auth_type = scram-sha-256 and an auth_file
# holding STORM_USERS users of each kind: a plain-text password, and the
# SCRAM secret PostgreSQL stored for the same role (so sluice logs in to
# PostgreSQL with the keys the client proved). Then, for each kind, it opens
# N connections at once (a Python asyncio client, no window), each doing the
# whole SCRAM exchange up to ReadyForQuery, holds them until every one has
# finished, and prints:
#
#   kind   logged in N of N, failures by reason, wall time,
#          sluice CPU (utime+stime from /proc/PID/stat) per login
#
# client_login_timeout stays at its default (60 s); max_client_conn is N+100;
# listen_backlog is STORM_BACKLOG (the kernel caps it at somaxconn). The
# client caches its salted password per (password, salt, iterations) as a
# long-lived client could, so its own PBKDF2 (~1.5 ms per login) does not
# starve sluice on a small machine; STORM_CLIENT_CACHE=0 derives at every
# login as libpq does. Not part of the test suite: it prints figures, and
# exits 1 only when something did not log in or a process died.
#
# Environment:
#   STORM_N=10000            clients per kind
#   STORM_KINDS="plain scram" which secret kinds to run
#   STORM_USERS=10           users of each kind (clients are spread over them)
#   STORM_BACKLOG=4096       sluice's listen_backlog
#   STORM_CLIENT_CACHE=1     0: the client runs PBKDF2 at every login
#   STORM_TIMEOUT=180        seconds the client waits for all logins
#   SLUICE_BIN=path          use this sluice binary instead of building one
#   STORM_KEEP_TMP=1         keep the temp dir (logs, configs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh

N=${STORM_N:-10000}
KINDS=${STORM_KINDS:-"plain scram"}
NUSERS=${STORM_USERS:-10}
BACKLOG=${STORM_BACKLOG:-4096}
CLIENT_CACHE=${STORM_CLIENT_CACHE:-1}
TIMEOUT=${STORM_TIMEOUT:-180}
PY=/usr/bin/python3

ensure_packages "${SLUICE_BUILD_PKGS[@]}"

if [ -n "${SLUICE_BIN:-}" ]; then
	SLUICE=$(cd "$(dirname "$SLUICE_BIN")" && pwd)/$(basename "$SLUICE_BIN")
else
	log "building sluice (release) in build-release/"
	if [ ! -f build-release/build.ninja ]; then
		rm -rf build-release
		meson setup build-release --buildtype=release -Dwerror=true >/dev/null
	fi
	meson compile -C build-release sluice >/dev/null
	SLUICE=$ROOT/build-release/sluice
fi
[ -x "$SLUICE" ] || die "no sluice binary at $SLUICE"

# N sockets in sluice and as many in the client, plus some
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)
if [ "$FDS" != unlimited ] && ((FDS < N + 200)); then
	die "the fd limit is $FDS; $N clients need $((N + 200)) (raise the hard limit)"
fi
CLK_TCK=$(getconf CLK_TCK)

T=$(mktemp -d /tmp/sluice-storm.XXXXXX)
chmod 755 "$T"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$T"
PGDATA="$T/data"
PGPORT=$(free_port)
PORT=$(free_port)
SLUICE_PID=

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [ -n "$SLUICE_PID" ] && kill -0 "$SLUICE_PID" 2>/dev/null; then
		kill -INT "$SLUICE_PID"
		wait "$SLUICE_PID" 2>/dev/null
	fi
	if [ -f "$PGDATA/postmaster.pid" ]; then
		as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1
	fi
	if [ -n "${STORM_KEEP_TMP:-}" ]; then log "kept $T"; else rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- PostgreSQL
log "PostgreSQL on 127.0.0.1:$PGPORT"
as_pg_user "$PG_BIN/initdb" -D "$PGDATA" --auth-local=trust --auth-host=scram-sha-256 -U postgres \
	-E UTF8 --no-locale -N >"$T/initdb.log" 2>&1 || { cat "$T/initdb.log" >&2; die "initdb failed"; }
cat >>"$PGDATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$T'
max_connections = 200
fsync = off
EOF
as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$T/postgres.log" -w start >/dev/null ||
	{ cat "$T/postgres.log" >&2; die "PostgreSQL did not start"; }
psql_pg() { as_pg_user "$PG_BIN/psql" -X -q -At -h "$T" -p "$PGPORT" -U postgres -d postgres "$@"; }

# users storm_plain_K (plain text in auth_file) and storm_scram_K (PostgreSQL's
# stored secret in auth_file); both kinds have real passwords in PostgreSQL
: >"$T/userlist.txt"
: >"$T/users.txt"
for kind in plain scram; do
	for i in $(seq 1 "$NUSERS"); do
		user=storm_${kind}_$i
		pw="Pw-${kind}-$i-$RANDOM$RANDOM"
		psql_pg -c "SET password_encryption = 'scram-sha-256'" -c "CREATE ROLE $user LOGIN PASSWORD '$pw'"
		if [ "$kind" = plain ]; then
			secret=$pw
		else
			secret=$(psql_pg -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$user'")
		fi
		printf '"%s" "%s"\n' "$user" "$secret" >>"$T/userlist.txt"
		printf '%s %s %s\n' "$kind" "$user" "$pw" >>"$T/users.txt"
	done
done

# ---------------------------------------------------------------- sluice
cat >"$T/sluice.ini" <<EOF
; written by scripts/login_storm.sh
[databases]
storm = host=127.0.0.1 port=$PGPORT dbname=postgres

[sluice]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
listen_backlog = $BACKLOG
auth_type = scram-sha-256
auth_file = $T/userlist.txt
pool_mode = transaction
default_pool_size = 5
max_client_conn = $((N + 100))
admin_port = 0
log_connections = 0
log_disconnections = 0
log_stats = 0
EOF
"$SLUICE" "$T/sluice.ini" </dev/null >"$T/sluice.log" 2>&1 &
SLUICE_PID=$!
for _ in $(seq 100); do
	port_in_use "$PORT" && break
	kill -0 "$SLUICE_PID" 2>/dev/null || { cat "$T/sluice.log" >&2; die "sluice exited"; }
	sleep 0.05
done
port_in_use "$PORT" || die "sluice does not listen on $PORT"
log "sluice $SLUICE (pid $SLUICE_PID) on 127.0.0.1:$PORT, $N clients per kind, ${NUSERS} users per kind"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SLUICE_PID/stat"; }

# ---------------------------------------------------------------- the client
cat >"$T/storm.py" <<'EOF'
"""N SCRAM-SHA-256 log-ins at once; prints one JSON line of results."""
import asyncio, base64, collections, hashlib, hmac, json, os, resource, struct, sys, time

host, port, n, users_file, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
cache_on, timeout = sys.argv[6] == "1", float(sys.argv[7])
users = [(u, pw) for k, u, pw in (ln.split() for ln in open(users_file)) if k == kind]
salted_cache = {}
failures = collections.Counter()


def msg(t, body):
    return t + struct.pack("!i", len(body) + 4) + body


def startup(user):
    body = struct.pack("!i", 196608) + b"user\0" + user.encode() + b"\0database\0storm\0\0"
    return struct.pack("!i", len(body) + 4) + body


def salted(password, salt, iters):
    key = (password, salt, iters)
    if cache_on and key in salted_cache:
        return salted_cache[key]
    v = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iters)
    if cache_on:
        salted_cache[key] = v
    return v


async def read_msg(r):
    head = await r.readexactly(5)
    (length,) = struct.unpack("!i", head[1:])
    return head[:1], await r.readexactly(length - 4)


class Failed(Exception):
    pass


def error_reason(body):
    fields = {p[:1]: p[1:].decode("utf-8", "replace") for p in body.split(b"\0") if p}
    return f"{fields.get(b'C', '?')} {fields.get(b'M', '')}"


async def expect_auth(r, code):
    t, body = await read_msg(r)
    if t == b"E":
        raise Failed(error_reason(body))
    got = struct.unpack("!i", body[:4])[0] if t == b"R" else None
    if got != code:
        raise Failed(f"expected Authentication {code}, got {t!r} {got}")
    return body[4:]


async def login(i, held):
    user, password = users[i % len(users)]
    try:
        r, w = await asyncio.open_connection(host, port)
    except OSError as e:
        failures[f"connect: {e.strerror or e}"] += 1
        return
    held.append(w)
    try:
        w.write(startup(user))
        await expect_auth(r, 10)
        nonce = base64.b64encode(os.urandom(18)).decode()
        bare = f"n=,r={nonce}"
        first = ("n,," + bare).encode()
        w.write(msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
        sfirst = await expect_auth(r, 11)
        attrs = dict(kv.split("=", 1) for kv in sfirst.decode().split(","))
        salt, iters, rnonce = base64.b64decode(attrs["s"]), int(attrs["i"]), attrs["r"]
        sp = salted(password, salt, iters)
        ck = hmac.new(sp, b"Client Key", "sha256").digest()
        wp = f"c=biws,r={rnonce}"
        am = f"{bare},{sfirst.decode()},{wp}".encode()
        sig = hmac.new(hashlib.sha256(ck).digest(), am, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(ck, sig))
        w.write(msg(b"p", (wp + ",p=" + base64.b64encode(proof).decode()).encode()))
        await expect_auth(r, 12)
        while True:
            t, body = await read_msg(r)
            if t == b"E":
                raise Failed(error_reason(body))
            if t == b"Z":
                return True
    except Failed as e:
        failures[str(e)] += 1
    except (asyncio.IncompleteReadError, ConnectionError) as e:
        failures[f"closed: {type(e).__name__}"] += 1
    except asyncio.CancelledError:
        failures["no answer before the client's timeout"] += 1
        raise


async def main():
    held = []
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(login(i, held)) for i in range(n)]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    wall = time.monotonic() - t0
    ok = sum(1 for t in done if not t.cancelled() and t.result() is True)
    for w in held:
        w.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"ok": ok, "n": n, "wall": wall, "failures": failures,
                      "client_cpu": ru.ru_utime + ru.ru_stime, "pbkdf2": len(salted_cache) if cache_on else None}))


asyncio.run(main())
EOF
chmod 644 "$T/storm.py"

rc=0
printf '\n%-6s %-22s %9s %11s %14s  %s\n' kind "logged in" "wall s" "sluice CPU" "CPU/login ms" "failures"
for kind in $KINDS; do
	c0=$(cpu_ticks)
	out=$("$PY" "$T/storm.py" 127.0.0.1 "$PORT" "$N" "$T/users.txt" "$kind" "$CLIENT_CACHE" "$TIMEOUT")
	c1=$(cpu_ticks)
	kill -0 "$SLUICE_PID" 2>/dev/null || { tail -n 20 "$T/sluice.log" >&2; die "sluice died"; }
	"$PY" - "$out" "$((c1 - c0))" "$CLK_TCK" "$kind" <<'EOF' || rc=1
import json, sys
r, ticks, hz, kind = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cpu = ticks / hz
fails = ", ".join(f"{v} x {k}" for k, v in sorted(r["failures"].items(), key=lambda kv: -kv[1])) or "none"
print(f"{kind:<6} {r['ok']:>6} of {r['n']:<12} {r['wall']:9.2f} {cpu:10.2f}s {cpu * 1000 / r['n']:14.3f}  {fails}")
print(f"       (client CPU {r['client_cpu']:.1f} s" + (f", {r['pbkdf2']} client PBKDF2 runs)" if r["pbkdf2"] is not None else ", PBKDF2 at every login)"))
sys.exit(0 if r["ok"] == r["n"] else 1)
EOF
	sleep 1 # let sluice close the last ones before the next kind
done
exit $rc
