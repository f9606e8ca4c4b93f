#!/bin/bash
# scripts/fuzz.sh: build the libFuzzer targets (tests/fuzz) and run them.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Installs clang and the libFuzzer runtime when missing, builds build-fuzz/
# (CC=clang, -Dfuzz=true), then for each TARGET (default: all of frame startup
# scram admin http config relay hba fingerprint dburl):
#   1. replays the committed seeds in tests/fuzz/corpus/TARGET once each;
#   2. fuzzes for SECONDS (default 60; 0 = replay only) on build-fuzz/corpus/TARGET,
#      a copy of the seeds that keeps what libFuzzer finds across runs (the
#      committed corpus is never written to);
# and prints executions, exec/s, coverage (cov, ft) and a verdict per target.
# Crash inputs are kept in build-fuzz/crashes/TARGET/; logs in build-fuzz/logs/.
# Exits non-zero when any target crashed.
#
# Environment:
#   FUZZ_JOBS=2   run two targets at once (at most 2: the machines have 2 cores)
#   FUZZ_ARGS=..  more libFuzzer arguments for every run, e.g. "-only_ascii=1"
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ALL_TARGETS=(frame startup scram admin http config relay hba fingerprint dburl)
BUILD=build-fuzz

# Longest input per target: past every limit the code under test enforces.
max_len() {
	case $1 in
	frame) echo 4096 ;;    # several messages, a streamed one, and the iobuf growing
	startup) echo 10240 ;; # PROTO_STARTUP_MAX is 10000
	scram) echo 1200 ;;    # SCRAM_MSG_MAX is 512, twice plus room
	admin) echo 4200 ;;    # ADMIN_MAX_QUERY is 4096
	http) echo 1024 ;;     # the request line: method < 16, path < 256
	config) echo 20000 ;;  # CONFIG_MAX_LINE is 16384
	relay) echo 4096 ;;    # requests, then replies in chunks, some streamed
	hba) echo 4096 ;;      # a few rules, continuations and an @file or two
	fingerprint) echo 4096 ;; # past FINGERPRINT_TEXT_MAX (1024), and long lists
	dburl) echo 1024 ;;       # a DATABASE_URL: a few parts and parameters
	esac
}

SECS=60
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
	SECS=$1
	shift
fi
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
	[ -n "$(max_len "$t")" ] || die "unknown fuzz target '$t' (targets: ${ALL_TARGETS[*]})"
done
JOBS=${FUZZ_JOBS:-1}
[[ $JOBS =~ ^[12]$ ]] || die "FUZZ_JOBS must be 1 or 2"
read -r -a EXTRA <<<"${FUZZ_ARGS:-}"

ensure_packages "${SLUICE_BUILD_PKGS[@]}" "${SLUICE_FUZZ_PKGS[@]}" || die "could not install packages"

# A build directory configured with another compiler cannot be switched to clang.
if [ -f "$BUILD/build.ninja" ] && ! grep -A1 '^rule c_COMPILER$' "$BUILD/build.ninja" | grep -q 'command = [^ ]*clang'; then
	die "$BUILD/ was configured without clang: remove it and run again"
fi
if [ ! -f "$BUILD/build.ninja" ]; then
	CC=clang meson setup "$BUILD" -Dfuzz=true -Db_lto=false >/dev/null || die "meson setup $BUILD failed"
else
	meson configure "$BUILD" -Dfuzz=true -Db_lto=false >/dev/null || die "meson configure $BUILD failed"
fi
log "building the fuzz targets in $BUILD/"
meson compile -C "$BUILD" "${TARGETS[@]/#/fuzz_}" >"$BUILD/compile.log" 2>&1 ||
	{ tail -40 "$BUILD/compile.log" >&2; die "build failed (log: $BUILD/compile.log)"; }

# Sanitizer reports end the run; libFuzzer keeps the input that caused them.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:print_summary=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1"

# run_target NAME: replay the seeds, then fuzz; writes $BUILD/logs/NAME.{replay,log,rc,input}.
run_target() {
	local t=$1 bin="$BUILD/tests/fuzz/fuzz_$1" seeds="tests/fuzz/corpus/$1"
	local corpus="$BUILD/corpus/$t" crashes="$BUILD/crashes/$t" logs="$BUILD/logs"
	local dict=() rc
	mkdir -p "$corpus" "$crashes" "$logs"
	[ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
	cp -n "$seeds"/* "$corpus"/
	: >"$logs/$t.log"
	"$bin" -artifact_prefix="$crashes/" "${EXTRA[@]}" "$seeds"/* >"$logs/$t.replay" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		cp "$logs/$t.replay" "$logs/$t.log"
		sed -n 's/^Running: //p' "$logs/$t.replay" | tail -1 >"$logs/$t.input"
	elif [ "$SECS" -gt 0 ]; then
		"$bin" -max_total_time="$SECS" -max_len="$(max_len "$t")" "${dict[@]}" \
			-use_value_profile=1 -timeout=10 -print_final_stats=1 \
			-artifact_prefix="$crashes/" "${EXTRA[@]}" "$corpus" >"$logs/$t.log" 2>&1
		rc=$?
		sed -n 's/.*Test unit written to //p' "$logs/$t.log" | tail -1 >"$logs/$t.input"
	fi
	echo "$rc" >"$logs/$t.rc"
}

# final_stat FILE KEY: a number from libFuzzer's -print_final_stats lines.
final_stat() {
	sed -n "s/^stat::$2: *\([0-9]*\).*/\1/p" "$1" | tail -1
}

# last FILE FIELD: FIELD ("cov", "ft") from libFuzzer's last status line.
last() {
	grep -o "$2: [0-9]*" "$1" | tail -1 | cut -d' ' -f2
}

log "fuzzing ${TARGETS[*]}: ${SECS}s each, $JOBS at a time"
running=0
for t in "${TARGETS[@]}"; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
	log "fuzz_$t"
	run_target "$t" &
	running=$((running + 1))
done
wait

FAILED=0
printf '\n%-11s %12s %9s %7s %8s  %s\n' target executions exec/s cov ft verdict
for t in "${TARGETS[@]}"; do
	l="$BUILD/logs/$t.log"
	rc=$(cat "$BUILD/logs/$t.rc" 2>/dev/null || echo 1)
	if [ "$rc" -eq 0 ]; then
		verdict="no crash"
	else
		FAILED=1
		input=$(cat "$BUILD/logs/$t.input" 2>/dev/null)
		verdict="CRASH (exit $rc) on ${input:-an unknown input}, log $l"
	fi
	execs=$(final_stat "$l" number_of_executed_units) speed=$(final_stat "$l" average_exec_per_sec)
	cov=$(last "$l" cov) ft=$(last "$l" ft)
	printf '%-11s %12s %9s %7s %8s  %s\n' "$t" "${execs:--}" "${speed:--}" "${cov:--}" "${ft:--}" \
		"$verdict"
done
if [ $FAILED -ne 0 ]; then
	printf '\nreproduce with: %s/tests/fuzz/fuzz_TARGET INPUT\n' "$BUILD"
fi
exit $FAILED
