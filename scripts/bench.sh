#!/usr/bin/env bash
# scripts/bench.sh — PostgreSQL direct vs sluice vs PgBouncer, in one run.
#
# usage: scripts/bench.sh            (no arguments; run as root or as a user
#                                     that may run PostgreSQL itself)
#
# It installs what is missing (apt-get, only for packages not installed),
# builds sluice in build-release/ (release, -Werror), starts a throwaway
# PostgreSQL on a free port (pgbench -i -s 10), sluice and PgBouncer with the
# same settings (transaction mode, default_pool_size 20, max_client_conn 12000,
# auth trust), and runs each scenario against each target, interleaved, for
# BENCH_ROUNDS rounds, then prints the medians as one table (also written to
# $BENCH_OUT):
#   S1 pgbench -S, 50 clients          S4 -S, 1000 clients (poolers only)
#   S2 -S, 1 client (latency)          S5 -S -C, 20 clients (connect per tx)
#   S3 TPC-B, 50 clients               S6 -S -M extended, 50 clients
#   S7 -S -M prepared, 50 clients: named prepared statements in transaction
#      mode (direct and sluice only: Debian 12's PgBouncer 1.18 cannot run
#      them; it learnt them in 1.21)
#   S8 -S, 50 clients, TLS on both sides (clients to pooler, pooler to
#      PostgreSQL; direct: TLS to PostgreSQL) with the same certificate
#   S9 -S -C, 20 clients, TLS: a handshake per transaction (poolers keep
#      their TLS server connections)
#   M1 RSS per idle client: 10,000 logged-in idle clients on each pooler
#   P1 user-space instructions per transaction: each pooler started afresh
#      under `valgrind --tool=callgrind`, once serving pgbench -S -c 10 for
#      BENCH_CG_TX transactions and once serving none; the difference of the
#      two instruction counts, divided by the transactions. It shows what a
#      change to the code did where TPS is too noisy to.
#      P2 the same with -M extended, P3 with -M prepared (sluice only).
#      With 10 clients the event loop's batching under callgrind moves from
#      run to run (up to 5 % here); BENCH_CG_CLIENTS=1 serves one client, one
#      message at a time: the same count every run, with more loop overhead
#      per transaction in it.
# Per scenario: TPS, average and p99 latency (from pgbench's per-transaction
# logs), pooler CPU µs per transaction (utime+stime of /proc/PID/stat around
# the run, divided by pgbench's transaction count; the window includes the
# clients' log-ins), and pooler syscalls per transaction (a separate run with
# `strace -c -f -p PID` attached after the clients have connected, divided by
# the transactions pgbench logged as completed while strace was attached).
#
# Exit status: 0 when every run worked; 1 when a pgbench run failed, a pooler
# died, or an idle client could not log in. Speed never fails the script.
#
# Environment:
#   BENCH_SECONDS=10        duration of each measured pgbench run
#   BENCH_ROUNDS=3          rounds (medians are reported)
#   BENCH_STRACE_SECONDS=4  strace window per scenario and pooler
#   BENCH_MEM_CLIENTS=10000 idle clients for M1 (capped by the fd limit)
#   BENCH_CG_TX=20000       transactions for P1
#   BENCH_CG_CLIENTS=10     pgbench clients for P1-P3 (1: deterministic, see above)
#   BENCH_SCENARIOS="S1 S2 S3 S4 S5 S6 S7 S8 S9 M1 P1 P2 P3"   subset to run
#   BENCH_JOBS=2            pgbench -j for multi-client scenarios (S4 uses >= 4)
#   BENCH_OUT=./bench-results.txt
#   BENCH_KEEP_TMP=1        keep the temp dir (logs, configs) for inspection
#   SLUICE_BIN=path         use this sluice binary instead of building one
# Default run: about 20 minutes on a 2-core machine.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
STRACE_SECS=${BENCH_STRACE_SECONDS:-4}
MEM_CLIENTS=${BENCH_MEM_CLIENTS:-10000}
SCENARIOS=${BENCH_SCENARIOS:-"S1 S2 S3 S4 S5 S6 S7 S8 S9 M1 P1 P2 P3"}
CG_TX=${BENCH_CG_TX:-20000}
CG_CLIENTS=${BENCH_CG_CLIENTS:-10}
JOBS=${BENCH_JOBS:-2}
OUT=${BENCH_OUT:-$PWD/bench-results.txt}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
HELPERS=$ROOT/scripts/bench
START_TIME=$(date +%s)

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ $CG_CLIENTS =~ ^[1-9][0-9]*$ ]] && ((CG_TX % CG_CLIENTS == 0)) ||
	die "BENCH_CG_CLIENTS must be a positive number that divides BENCH_CG_TX ($CG_TX)"

# ---------------------------------------------------------------- packages
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
need=()
for p in postgresql postgresql-contrib pgbouncer strace valgrind meson ninja-build build-essential \
	pkg-config libevent-dev libssl-dev libinih-dev libpq-dev openssl; do
	pkg_installed "$p" || need+=("$p")
done
if ((${#need[@]})); then
	log "installing: ${need[*]}"
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/pgbench" ] || die "pgbench not found under /usr/lib/postgresql/*/bin"
PGBENCH=$PGBIN/pgbench
PSQL=$PGBIN/psql
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$PGBOUNCER" ] || die "pgbouncer not found"

# ---------------------------------------------------------------- build
if [ -n "${SLUICE_BIN:-}" ]; then
	SLUICE=$SLUICE_BIN
else
	log "building sluice (release) in build-release/"
	BUILD_LOG=$(mktemp /tmp/sluice-bench-build.XXXXXX)
	if ! (
		cd "$ROOT"
		if [ ! -f build-release/build.ninja ]; then
			rm -rf build-release # a half-configured directory from a failed setup
			meson setup build-release --buildtype=release -Dwerror=true
		fi
		meson compile -C build-release sluice
	) >"$BUILD_LOG" 2>&1; then
		tail -n 30 "$BUILD_LOG" >&2
		rm -f "$BUILD_LOG"
		die "build failed"
	fi
	rm -f "$BUILD_LOG"
	SLUICE=$ROOT/build-release/sluice
fi
[ -x "$SLUICE" ] || die "no sluice binary at $SLUICE"

# ---------------------------------------------------------------- limits
# 10,000 idle clients need as many fds in the pooler and in the client.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)
if [ "$FDS" != unlimited ] && ((FDS < MEM_CLIENTS + 200)); then
	log "fd limit is $FDS: M1 uses $((FDS - 200)) idle clients instead of $MEM_CLIENTS"
	MEM_CLIENTS=$((FDS - 200))
fi
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- temp dir, cleanup
T=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$T"
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || die "running as root needs the postgres system user"
	chown postgres: "$T"
	AS_PG=(runuser -u postgres --)
	PGB_USER=(-u postgres)
else
	AS_PG=()
	PGB_USER=()
fi
DBUSER=bench
DBNAME=bench
SLUICE_PID=
PGB_PID=
SLUICE_TLS_PID=
PGB_TLS_PID=
PG_STARTED=
BG_PIDS=()

stop_pid() { # pid signal
	local pid=$1 sig=$2 i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	for p in "${BG_PIDS[@]}"; do stop_pid "$p" TERM; done
	stop_pid "$SLUICE_PID" INT
	stop_pid "$PGB_PID" TERM
	stop_pid "$SLUICE_TLS_PID" INT
	stop_pid "$PGB_TLS_PID" TERM
	if [ -n "$PG_STARTED" ]; then
		"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$T/pg" -m immediate -w stop >/dev/null 2>&1
	fi
	if [ -n "${BENCH_KEEP_TMP:-}" ]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_ports() { # n
	"$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
read -r PGPORT SLUICE_PORT PGB_PORT SLUICE_TLS_PORT PGB_TLS_PORT <<<"$(free_ports 5)"

# ---------------------------------------------------------------- certificates
# One P-256 CA and one certificate for PostgreSQL and both poolers (S8, S9).
C=$T/certs
mkdir -p "$C"
{
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$C/ca.key" \
		-out "$C/ca.crt" -days 7 -subj "/CN=bench CA"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$C/server.key" \
		-out "$C/server.csr" -subj "/CN=localhost"
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$C/san.ext"
	openssl x509 -req -in "$C/server.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial \
		-out "$C/server.crt" -days 7 -extfile "$C/san.ext"
} >"$T/certs.log" 2>&1 || { cat "$T/certs.log" >&2; die "openssl could not make the certificates"; }
chmod 600 "$C"/*.key
[ "$(id -u)" -ne 0 ] || chown -R postgres: "$C"

# ---------------------------------------------------------------- PostgreSQL
log "PostgreSQL on 127.0.0.1:$PGPORT ($T/pg)"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$T/pg" -A trust -U "$DBUSER" -E UTF8 --no-sync >"$T/initdb.log" 2>&1 ||
	{ cat "$T/initdb.log" >&2; die "initdb failed"; }
PG_STARTED=1
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$T/pg" -l "$T/pg.log" -w -t 60 -o \
	"-p $PGPORT -k $T -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=$C/server.crt -c ssl_key_file=$C/server.key -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB" \
	start >/dev/null || { tail -n 30 "$T/pg.log" >&2; die "PostgreSQL did not start"; }
"$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT" -U "$DBUSER" -d postgres -c "CREATE DATABASE $DBNAME" >/dev/null
log "pgbench -i -s 10"
"$PGBENCH" -i -s 10 -q -h 127.0.0.1 -p "$PGPORT" -U "$DBUSER" "$DBNAME" >"$T/pgbench-init.log" 2>&1 ||
	{ cat "$T/pgbench-init.log" >&2; die "pgbench -i failed"; }

# ---------------------------------------------------------------- poolers
mkdir -p "$T/sluice" "$T/pgbouncer"
[ "$(id -u)" -ne 0 ] || chown postgres: "$T/sluice" "$T/pgbouncer"
printf '"%s" ""\n' "$DBUSER" >"$T/userlist.txt"
chmod 644 "$T/userlist.txt"
common_ini() { # section port dir
	cat <<EOF
[databases]
* = host=127.0.0.1 port=$PGPORT

[$1]
listen_addr = 127.0.0.1
listen_port = $2
unix_socket_dir = $3
auth_type = trust
auth_file = $T/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 12000
log_connections = 0
log_disconnections = 0
EOF
}
# S8, S9: TLS from the clients (require) and to PostgreSQL (require), same certificate
tls_ini() {
	printf '%s\n' "client_tls_sslmode = require" "client_tls_cert_file = $C/server.crt" \
		"client_tls_key_file = $C/server.key" "server_tls_sslmode = require"
}
# the other scenarios run without TLS on either side (PostgreSQL has ssl=on for S8, S9)
{ common_ini sluice "$SLUICE_PORT" "$T/sluice"; echo "admin_port = 0"; echo "server_tls_sslmode = disable"; } >"$T/sluice.ini"
{ common_ini pgbouncer "$PGB_PORT" "$T/pgbouncer"; echo "server_tls_sslmode = disable"; } >"$T/pgbouncer.ini"
mkdir -p "$T/sluice-tls" "$T/pgbouncer-tls"
[ "$(id -u)" -ne 0 ] || chown postgres: "$T/sluice-tls" "$T/pgbouncer-tls"
{ common_ini sluice "$SLUICE_TLS_PORT" "$T/sluice-tls"; echo "admin_port = 0"; tls_ini; } >"$T/sluice-tls.ini"
{ common_ini pgbouncer "$PGB_TLS_PORT" "$T/pgbouncer-tls"; tls_ini; } >"$T/pgbouncer-tls.ini"
chmod 644 "$T/sluice.ini" "$T/pgbouncer.ini" "$T/sluice-tls.ini" "$T/pgbouncer-tls.ini"

wait_ready() { # name pid port
	local i
	for i in $(seq 100); do
		kill -0 "$2" 2>/dev/null || return 1
		if PGSSLMODE=prefer "$PSQL" -X -q -At -h 127.0.0.1 -p "$3" -U "$DBUSER" -d "$DBNAME" -c 'select 1' >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}
start_sluice() {
	"$SLUICE" "$T/sluice.ini" >>"$T/sluice.log" 2>&1 &
	SLUICE_PID=$!
	wait_ready sluice "$SLUICE_PID" "$SLUICE_PORT" || { tail -n 30 "$T/sluice.log" >&2; die "sluice did not start"; }
}
start_pgbouncer() {
	"$PGBOUNCER" "${PGB_USER[@]}" "$T/pgbouncer.ini" >>"$T/pgbouncer.log" 2>&1 &
	PGB_PID=$!
	wait_ready pgbouncer "$PGB_PID" "$PGB_PORT" || { tail -n 30 "$T/pgbouncer.log" >&2; die "pgbouncer did not start"; }
}
start_sluice_tls() {
	"$SLUICE" "$T/sluice-tls.ini" >>"$T/sluice-tls.log" 2>&1 &
	SLUICE_TLS_PID=$!
	wait_ready sluice-tls "$SLUICE_TLS_PID" "$SLUICE_TLS_PORT" ||
		{ tail -n 30 "$T/sluice-tls.log" >&2; die "sluice (TLS) did not start"; }
}
start_pgbouncer_tls() {
	"$PGBOUNCER" "${PGB_USER[@]}" "$T/pgbouncer-tls.ini" >>"$T/pgbouncer-tls.log" 2>&1 &
	PGB_TLS_PID=$!
	wait_ready pgbouncer-tls "$PGB_TLS_PID" "$PGB_TLS_PORT" ||
		{ tail -n 30 "$T/pgbouncer-tls.log" >&2; die "pgbouncer (TLS) did not start"; }
}
export PGSSLMODE=disable # psql and pgbench outside the TLS scenarios (PostgreSQL has ssl=on)
log "sluice on :$SLUICE_PORT, PgBouncer on :$PGB_PORT; with TLS on :$SLUICE_TLS_PORT and :$PGB_TLS_PORT"
start_sluice
start_pgbouncer
if [[ " $SCENARIOS " == *" S8 "* || " $SCENARIOS " == *" S9 "* ]]; then
	start_sluice_tls
	start_pgbouncer_tls
fi

# The scenario being run (CUR_SCEN) picks the TLS instances and pgbench's sslmode.
CUR_SCEN=
tls_scen() { [ "$CUR_SCEN" = S8 ] || [ "$CUR_SCEN" = S9 ]; }
port_of() {
	if tls_scen; then
		case $1 in direct) echo "$PGPORT" ;; sluice) echo "$SLUICE_TLS_PORT" ;; pgbouncer) echo "$PGB_TLS_PORT" ;; esac
	else
		case $1 in direct) echo "$PGPORT" ;; sluice) echo "$SLUICE_PORT" ;; pgbouncer) echo "$PGB_PORT" ;; esac
	fi
}
pid_of() {
	if tls_scen; then
		case $1 in direct) echo "" ;; sluice) echo "$SLUICE_TLS_PID" ;; pgbouncer) echo "$PGB_TLS_PID" ;; esac
	else
		case $1 in direct) echo "" ;; sluice) echo "$SLUICE_PID" ;; pgbouncer) echo "$PGB_PID" ;; esac
	fi
}
sslmode() { if tls_scen; then echo require; else echo disable; fi; }
cpu_ticks() { # utime+stime of the whole process (all threads)
	local f
	read -r -a f <<<"$(sed 's/^.*) //' "/proc/$1/stat")"
	echo $((f[11] + f[12]))
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- scenarios
declare -A DESC ARGS CLIENTS TARGETS_OF
DESC[S1]="pgbench -S, 50 clients";          ARGS[S1]="-S -c 50 -j $JOBS";             CLIENTS[S1]=50
DESC[S2]="pgbench -S, 1 client";            ARGS[S2]="-S -c 1 -j 1";                  CLIENTS[S2]=1
DESC[S3]="TPC-B, 50 clients";               ARGS[S3]="-c 50 -j $JOBS";                CLIENTS[S3]=50
S4J=$((JOBS > 4 ? JOBS : 4))
DESC[S4]="pgbench -S, 1000 clients";        ARGS[S4]="-S -c 1000 -j $S4J";            CLIENTS[S4]=1000
DESC[S5]="pgbench -S -C, 20 clients";       ARGS[S5]="-S -C -c 20 -j $JOBS";          CLIENTS[S5]=20
DESC[S6]="pgbench -S -M extended, 50 cl.";  ARGS[S6]="-S -M extended -c 50 -j $JOBS"; CLIENTS[S6]=50
DESC[S7]="pgbench -S -M prepared, 50 cl.";  ARGS[S7]="-S -M prepared -c 50 -j $JOBS"; CLIENTS[S7]=50
DESC[S8]="-S, 50 clients, TLS both sides";  ARGS[S8]="-S -c 50 -j $JOBS";             CLIENTS[S8]=50
DESC[S9]="-S -C, 20 clients, TLS";          ARGS[S9]="-S -C -c 20 -j $JOBS";          CLIENTS[S9]=20
DESC[M1]="$MEM_CLIENTS idle clients"
declare -A PMODE
DESC[P1]="callgrind, pgbench -S -c $CG_CLIENTS";             PMODE[P1]=simple
DESC[P2]="callgrind, -S -M extended -c $CG_CLIENTS";         PMODE[P2]=extended
DESC[P3]="callgrind, -S -M prepared -c $CG_CLIENTS";         PMODE[P3]=prepared
for s in S1 S2 S3 S5 S6 S8 S9; do TARGETS_OF[$s]="direct sluice pgbouncer"; done
TARGETS_OF[S4]="sluice pgbouncer"
TARGETS_OF[S7]="direct sluice" # PgBouncer 1.18: no named prepared statements in transaction mode
for s in P1 P2; do TARGETS_OF[$s]="sluice pgbouncer"; done
TARGETS_OF[P3]="sluice"
PGB_SCENARIOS=()
for s in $SCENARIOS; do
	case $s in
	S[1-9]) PGB_SCENARIOS+=("$s") ;;
	M1 | P[1-3]) ;;
	*) die "unknown scenario $s (BENCH_SCENARIOS: S1..S9 M1 P1..P3)" ;;
	esac
done

RAW=$T/raw.tsv
SYSC=$T/syscalls.tsv
: >"$RAW"
: >"$SYSC"
for s in $SCENARIOS; do printf '%s\t%s\n' "$s" "${DESC[$s]}"; done >"$T/scenarios.tsv"
FAILURES=()

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }

fail_run() { # what detail-file
	FAILURES+=("$1")
	log "FAILED: $1"
	[ -z "${2:-}" ] || tail -n 15 "$2" | sed 's/^/    /' >&2
}

# A pooler that died is reported and restarted so later runs still measure.
check_pooler() { # target context
	local pid
	pid=$(pid_of "$1")
	[ -n "$pid" ] || return 0
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null && true
		fail_run "$1 died during $2 (exit status $?)" "$T/$1$(tls_scen && echo -tls).log"
		case $1$(tls_scen && echo -tls) in
		sluice) start_sluice ;; pgbouncer) start_pgbouncer ;;
		sluice-tls) start_sluice_tls ;; pgbouncer-tls) start_pgbouncer_tls ;;
		esac
		return 1
	fi
	return 0
}

before_run() { # scenario: same starting state for every target
	if [ "$1" = S3 ]; then
		"$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT" -U "$DBUSER" -d "$DBNAME" \
			-c 'TRUNCATE pgbench_history' -c 'VACUUM pgbench_branches' -c 'VACUUM pgbench_tellers' >/dev/null
	fi
}

# Average and 99th-percentile latency (ms) of pgbench per-transaction logs.
log_latency() { # log-prefix
	cat "$1".* | awk '$3 ~ /^[0-9]+$/ {print $3}' | sort -n |
		awk '{a[NR] = $1; s += $1}
		     END {if (NR == 0) {print "FAIL FAIL"; exit}
		          i = int(NR * 0.99); if (i < NR * 0.99) i++; if (i < 1) i = 1
		          printf "%.4f %.4f\n", s / NR / 1000, a[i] / 1000}'
}

run_pgbench() { # scenario target round
	local s=$1 t=$2 r=$3 port pid out lp rc cpu0 cpu1 tx tps lat p99 cpu
	CUR_SCEN=$s
	port=$(port_of "$t")
	pid=$(pid_of "$t")
	out=$T/run-$s-$t-$r.out
	lp=$T/logs/tx
	rm -rf "$T/logs"
	mkdir "$T/logs"
	before_run "$s"
	[ -z "$pid" ] || cpu0=$(cpu_ticks "$pid")
	rc=0
	# shellcheck disable=SC2086
	PGSSLMODE=$(sslmode) "$PGBENCH" -n -T "$SECS" ${ARGS[$s]} --log --log-prefix="$lp" \
		-h 127.0.0.1 -p "$port" -U "$DBUSER" "$DBNAME" >"$out" 2>&1 || rc=$?
	[ -z "$pid" ] || { kill -0 "$pid" 2>/dev/null && cpu1=$(cpu_ticks "$pid"); } || true
	tx=$(awk -F': *' '/^number of transactions actually processed/ {split($2, a, "/"); print a[1] + 0}' "$out")
	tps=$(awk '/^tps = / {print $3; exit}' "$out")
	if ! check_pooler "$t" "$s round $r" || [ "$rc" -ne 0 ] || [ -z "$tx" ] || [ "${tx:-0}" -eq 0 ] || [ -z "$tps" ] ||
		grep -qE '^number of failed transactions: [1-9]' "$out"; then
		fail_run "$s $t round $r: pgbench exit $rc" "$out"
		for m in tps lat_avg_ms lat_p99_ms; do record "$s" "$m" "$t" "$r" FAIL; done
		[ -z "$pid" ] || record "$s" cpu_us_per_tx "$t" "$r" FAIL
		rm -rf "$T/logs"
		return 0
	fi
	read -r lat p99 <<<"$(log_latency "$lp")"
	record "$s" tps "$t" "$r" "$tps"
	record "$s" lat_avg_ms "$t" "$r" "$lat"
	record "$s" lat_p99_ms "$t" "$r" "$p99"
	cpu=-
	if [ -n "$pid" ]; then
		cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$CLK_TCK" -v n="$tx" 'BEGIN {printf "%.3f", (b - a) * 1e6 / hz / n}')
		record "$s" cpu_us_per_tx "$t" "$r" "$cpu"
	fi
	log "round $r $s $t: tps=$tps avg=${lat}ms p99=${p99}ms cpu_us/tx=$cpu"
	rm -rf "$T/logs"
}

# Syscalls per transaction: strace -c -f attached to the pooler once the
# clients are connected; transactions counted from pgbench's per-transaction
# log by completion time inside the strace window.
strace_run() { # scenario target
	local s=$1 t=$2 port pid out lp st err bpid spid i t0 t1 n calls rc=0 base
	CUR_SCEN=$s
	port=$(port_of "$t")
	pid=$(pid_of "$t")
	out=$T/strace-$s-$t.out
	st=$T/strace-$s-$t.txt
	err=$T/strace-$s-$t.err
	lp=$T/slogs/tx
	rm -rf "$T/slogs"
	mkdir "$T/slogs"
	before_run "$s"
	base=$(ls "/proc/$pid/fd" | wc -l)
	# shellcheck disable=SC2086
	PGSSLMODE=$(sslmode) "$PGBENCH" -n -T "$((STRACE_SECS + 3))" ${ARGS[$s]} --log --log-prefix="$lp" \
		-h 127.0.0.1 -p "$port" -U "$DBUSER" "$DBNAME" >"$out" 2>&1 &
	bpid=$!
	BG_PIDS+=("$bpid")
	if [[ " ${ARGS[$s]} " == *" -C "* ]]; then
		sleep 1
	else
		for i in $(seq 300); do
			(($(ls "/proc/$pid/fd" 2>/dev/null | wc -l) >= base + CLIENTS[$s])) && break
			kill -0 "$bpid" 2>/dev/null || break
			sleep 0.1
		done
		sleep 0.5
	fi
	strace -c -f -p "$pid" -o "$st" 2>"$err" &
	spid=$!
	BG_PIDS+=("$spid")
	for i in $(seq 100); do
		grep -q attached "$err" 2>/dev/null && break
		sleep 0.05
	done
	t0=$(date +%s%6N)
	sleep "$STRACE_SECS"
	t1=$(date +%s%6N)
	kill -0 "$bpid" 2>/dev/null || log "warning: $s $t strace window outlasted pgbench"
	kill -INT "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	wait "$bpid" || rc=$?
	BG_PIDS=()
	if ! check_pooler "$t" "$s strace run" || [ "$rc" -ne 0 ] || ! grep -q 'total' "$st" 2>/dev/null; then
		fail_run "$s $t strace run: pgbench exit $rc" "$out"
		[ ! -s "$err" ] || tail -n 5 "$err" >&2
		record "$s" syscalls_per_tx "$t" 1 FAIL
		rm -rf "$T/slogs"
		return 0
	fi
	n=$(cat "$lp".* | awk -v t0="$t0" -v t1="$t1" '$3 ~ /^[0-9]+$/ {t = $5 * 1000000 + $6; if (t >= t0 && t <= t1) n++} END {print n + 0}')
	rm -rf "$T/slogs"
	# Rows between the two dashed lines: %time seconds usecs/call calls [errors] syscall.
	calls=$(awk '/^-----/ {d++; next} d == 1 {c += $4} END {print c + 0}' "$st")
	if ((n == 0)); then
		fail_run "$s $t strace run: no transaction completed in the strace window" "$out"
		record "$s" syscalls_per_tx "$t" 1 FAIL
		return 0
	fi
	record "$s" syscalls_per_tx "$t" 1 "$(awk -v c="$calls" -v n="$n" 'BEGIN {printf "%.4f", c / n}')"
	awk -v s="$s" -v t="$t" -v n="$n" '/^-----/ {d++; next} d == 1 {printf "%s\t%s\t%s\t%.4f\n", s, t, $NF, $4 / n}' "$st" >>"$SYSC"
	log "strace $s $t: $calls syscalls / $n tx = $(awk -v c="$calls" -v n="$n" 'BEGIN {printf "%.2f", c / n}')"
}

# RSS per idle client: a fresh pooler (one query run to open its pool), then
# MEM_CLIENTS logged-in idle clients; (VmRSS after - before) / clients.
mem_run() { # target
	local t=$1 port pid rss0 rss1 ipid i line ok failed closed
	port=$(port_of "$t")
	if [ "$t" = sluice ]; then
		stop_pid "$SLUICE_PID" INT
		start_sluice
	else
		stop_pid "$PGB_PID" TERM
		start_pgbouncer
	fi
	pid=$(pid_of "$t")
	sleep 0.5
	rss0=$(rss_kb "$pid")
	"$PY" "$HELPERS/idle_clients.py" 127.0.0.1 "$port" "$DBUSER" "$DBNAME" "$MEM_CLIENTS" \
		>"$T/idle-$t.out" 2>"$T/idle-$t.err" </dev/null &
	ipid=$!
	BG_PIDS+=("$ipid")
	line=
	for i in $(seq 3600); do
		line=$(grep '^ready' "$T/idle-$t.out" 2>/dev/null || true)
		[ -z "$line" ] || break
		kill -0 "$ipid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$line" ] || ! kill -0 "$pid" 2>/dev/null; then
		stop_pid "$ipid" TERM
		BG_PIDS=()
		check_pooler "$t" "M1 (idle clients)" || true
		fail_run "M1 $t: idle clients did not finish logging in" "$T/idle-$t.err"
		record M1 rss_bytes_per_client "$t" 1 FAIL
		return 0
	fi
	sleep 1
	rss1=$(rss_kb "$pid")
	stop_pid "$ipid" TERM
	BG_PIDS=()
	ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$line")
	failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$line")
	closed=$(sed -n 's/.*closed=\([0-9]*\).*/\1/p' <<<"$line")
	log "M1 $t: $line; VmRSS ${rss0} kB -> ${rss1} kB"
	check_pooler "$t" "M1 (idle clients)" || true
	if ((failed > 0 || closed > 0)); then
		fail_run "M1 $t: $failed of $MEM_CLIENTS logins failed, $closed idle connections closed or sent data" "$T/idle-$t.err"
	fi
	record M1 idle_clients "$t" 1 "$ok"
	if ((ok > 0)); then
		record M1 rss_bytes_per_client "$t" 1 "$(awk -v a="$rss0" -v b="$rss1" -v n="$ok" 'BEGIN {printf "%.1f", (b - a) * 1024 / n}')"
	else
		record M1 rss_bytes_per_client "$t" 1 FAIL
	fi
}

# Instructions a fresh pooler under callgrind executes: started, checked with
# one psql query, then serving `tx` pgbench transactions (none when tx is 0).
callgrind_ir() { # target tx mode -> sets CG_IR to the instruction count, or FAIL
	# (not run in $(...): the valgrind pid must reach BG_PIDS for cleanup)
	local t=$1 tx=$2 mode=${3:-simple} port ini vpid log i ir
	read -r port <<<"$(free_ports 1)"
	ini=$T/cg-$t.ini
	log=$T/cg-$t-$tx.log
	sed "s/^listen_port = .*/listen_port = $port/" "$T/$t.ini" >"$ini"
	chmod 644 "$ini"
	if [ "$t" = sluice ]; then
		valgrind --tool=callgrind --callgrind-out-file="$T/cg-$t-$tx.out" "$SLUICE" "$ini" >"$log" 2>&1 &
	else
		# callgrind writes its file after pgbouncer's setuid: make it the user's
		: >"$T/cg-$t-$tx.out"
		[ "$(id -u)" -ne 0 ] || chown postgres: "$T/cg-$t-$tx.out"
		valgrind --tool=callgrind --callgrind-out-file="$T/cg-$t-$tx.out" "$PGBOUNCER" "${PGB_USER[@]}" "$ini" >"$log" 2>&1 &
	fi
	vpid=$!
	BG_PIDS+=("$vpid")
	for i in $(seq 300); do
		"$PSQL" -X -q -At -h 127.0.0.1 -p "$port" -U "$DBUSER" -d "$DBNAME" -c 'select 1' >/dev/null 2>&1 && break
		kill -0 "$vpid" 2>/dev/null || break
		sleep 0.2
	done
	if ((tx > 0)); then
		"$PGBENCH" -n -S -M "$mode" -c "$CG_CLIENTS" -j "$((CG_CLIENTS < 2 ? 1 : 2))" \
			-t $((tx / CG_CLIENTS)) -h 127.0.0.1 -p "$port" -U "$DBUSER" "$DBNAME" \
			>"$T/cg-$t-pgbench.out" 2>&1 || echo "pgbench failed" >>"$log"
	fi
	kill -INT "$vpid" 2>/dev/null || true
	wait "$vpid" 2>/dev/null || true
	BG_PIDS=()
	ir=$(awk '/Collected :/ {print $NF}' "$log" | tail -n 1)
	if [ -z "$ir" ] || grep -q "pgbench failed" "$log"; then
		CG_IR=FAIL
	else
		CG_IR=$ir
	fi
}

cg_run() { # scenario target
	local s=$1 t=$2 base full
	callgrind_ir "$t" 0
	base=$CG_IR
	callgrind_ir "$t" "$CG_TX" "${PMODE[$s]}"
	full=$CG_IR
	if [ "$base" = FAIL ] || [ "$full" = FAIL ]; then
		fail_run "$s $t: callgrind run failed" "$T/cg-$t-$CG_TX.log"
		record "$s" ir_per_tx "$t" 1 FAIL
		return 0
	fi
	record "$s" ir_per_tx "$t" 1 "$(awk -v a="$base" -v b="$full" -v n="$CG_TX" 'BEGIN {printf "%.1f", (b - a) / n}')"
	log "$s $t: $base instructions idle, $full with $CG_TX transactions"
}

# ---------------------------------------------------------------- run
if ((${#PGB_SCENARIOS[@]})); then
	log "warm-up"
	for t in direct sluice pgbouncer; do
		"$PGBENCH" -n -S -T 2 -c 10 -j 2 -h 127.0.0.1 -p "$(port_of "$t")" -U "$DBUSER" "$DBNAME" >"$T/warmup-$t.out" 2>&1 ||
			fail_run "warm-up $t" "$T/warmup-$t.out"
		check_pooler "$t" warm-up || true
	done
fi
for r in $(seq "$ROUNDS"); do
	for s in "${PGB_SCENARIOS[@]}"; do
		# Rotate the order of the targets each round (interleaved).
		read -r -a tl <<<"${TARGETS_OF[$s]}"
		n=${#tl[@]}
		for i in $(seq 0 $((n - 1))); do
			run_pgbench "$s" "${tl[$(((i + r - 1) % n))]}" "$r"
		done
	done
done
for s in "${PGB_SCENARIOS[@]}"; do
	for t in ${TARGETS_OF[$s]}; do
		[ "$t" = direct ] || strace_run "$s" "$t"
	done
done
CUR_SCEN=
for s in P1 P2 P3; do
	[[ " $SCENARIOS " == *" $s "* ]] || continue
	for t in ${TARGETS_OF[$s]}; do cg_run "$s" "$t"; done
done
if [[ " $SCENARIOS " == *" M1 "* ]]; then
	for t in sluice pgbouncer; do mem_run "$t"; done
fi

# ---------------------------------------------------------------- report
ELAPSED=$(($(date +%s) - START_TIME))
{
	echo "sluice benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "sluice $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')${SLUICE_BIN:+ (SLUICE_BIN=$SLUICE_BIN)}, $("$PGBOUNCER" --version 2>/dev/null | head -n 1), $("$PGBIN/postgres" --version)"
	echo "$(nproc) cores, $(uname -sr); BENCH_SECONDS=$SECS BENCH_ROUNDS=$ROUNDS BENCH_STRACE_SECONDS=$STRACE_SECS; medians over rounds; took ${ELAPSED}s"
	echo "pool_mode=transaction default_pool_size=20 max_client_conn=12000 auth_type=trust; pgbench -s 10 -n -j $JOBS (S4 -j $S4J)"
	echo
	"$PY" "$HELPERS/report.py" "$RAW" "$T/scenarios.tsv" "$SYSC"
	if ((${#FAILURES[@]})); then
		echo
		echo "FAILURES:"
		printf '  %s\n' "${FAILURES[@]}"
	fi
} >"$OUT"
cat "$OUT"
log "written to $OUT (${ELAPSED}s)"
((${#FAILURES[@]} == 0)) || exit 1
