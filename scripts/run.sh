#!/bin/bash
# scripts/run.sh: build sluice and run it in the foreground.
#
#   scripts/run.sh CONFIG   run build/sluice CONFIG
#   scripts/run.sh          start a throwaway PostgreSQL (trust auth, 127.0.0.1,
#                           free port) and sluice in front of it on
#                           127.0.0.1:6432 (admin console on 6433), print the
#                           psql line to connect; Ctrl-C (or SIGTERM) stops
#                           both and removes the temporary directory.
#
# Environment: SLUICE_PORT (6432), SLUICE_ADMIN_PORT (6433), SLUICE_POOL_MODE (transaction).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages "${SLUICE_BUILD_PKGS[@]}"
meson_build build >&2

if [ $# -ge 1 ]; then
	exec build/sluice "$@"
fi

LISTEN_PORT=${SLUICE_PORT:-6432}
ADMIN_PORT=${SLUICE_ADMIN_PORT:-6433}
POOL_MODE=${SLUICE_POOL_MODE:-transaction}
for p in "$LISTEN_PORT" "$ADMIN_PORT"; do
	port_in_use "$p" && die "port $p on 127.0.0.1 is already in use (set SLUICE_PORT / SLUICE_ADMIN_PORT)"
done

TMP=$(mktemp -d /tmp/sluice-run.XXXXXX)
chmod 755 "$TMP"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$TMP"
PGDATA="$TMP/data"
PGPORT=$(free_port)
SLUICE_PID=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$SLUICE_PID" ] && kill -0 "$SLUICE_PID" 2>/dev/null; then
		kill -INT "$SLUICE_PID" 2>/dev/null || true
		wait "$SLUICE_PID" 2>/dev/null || true
	fi
	if [ -f "$PGDATA/postmaster.pid" ]; then
		log "stopping PostgreSQL"
		as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
# forward Ctrl-C / SIGTERM to sluice (TERM drains, INT exits at once); cleanup runs on EXIT
trap '[ -n "$SLUICE_PID" ] && kill -INT "$SLUICE_PID" 2>/dev/null; exit 130' INT
trap '[ -n "$SLUICE_PID" ] && kill -TERM "$SLUICE_PID" 2>/dev/null; wait "$SLUICE_PID"; exit 143' TERM

log "initdb in $PGDATA"
as_pg_user "$PG_BIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 --no-locale -N >"$TMP/initdb.log" 2>&1 ||
	{ cat "$TMP/initdb.log" >&2; die "initdb failed"; }
cat >>"$PGDATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$TMP'
max_connections = 200
EOF
log "starting PostgreSQL on 127.0.0.1:$PGPORT"
as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$TMP/postgres.log" -w start >/dev/null ||
	{ cat "$TMP/postgres.log" >&2; die "PostgreSQL did not start"; }

CONFIG="$TMP/sluice.ini"
cat >"$CONFIG" <<EOF
; throwaway config written by scripts/run.sh
[databases]
* = host=127.0.0.1 port=$PGPORT

[sluice]
listen_addr = 127.0.0.1
listen_port = $LISTEN_PORT
unix_socket_dir = $TMP
auth_type = trust
pool_mode = $POOL_MODE
default_pool_size = 20
max_client_conn = 1000
admin_port = $ADMIN_PORT
admin_users = postgres
log_connections = 1
log_disconnections = 1
EOF

cat >&2 <<EOF

  PostgreSQL : 127.0.0.1:$PGPORT (data in $PGDATA, log $TMP/postgres.log)
  sluice     : 127.0.0.1:$LISTEN_PORT ($POOL_MODE pooling), config $CONFIG

  connect with:   psql -h 127.0.0.1 -p $LISTEN_PORT -U postgres postgres
  admin console:  psql -h 127.0.0.1 -p $ADMIN_PORT -U postgres sluice

  Ctrl-C stops sluice and PostgreSQL and removes $TMP.

EOF

# job control on for this one command: a background job of a non-interactive
# shell would otherwise start with SIGINT ignored
set -m
build/sluice "$CONFIG" </dev/null &
SLUICE_PID=$!
set +m
set +e
wait "$SLUICE_PID"
rc=$?
SLUICE_PID=
exit $rc
