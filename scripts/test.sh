#!/bin/bash
# scripts/test.sh: run every test of sluice.
#
#   1. installs missing Debian packages (only when something is missing);
#   2. builds build/ with -Dwerror=true and runs the unit tests (meson test);
#   3. runs the integration suite (tests/integration, pytest + psycopg from
#      Debian, with /usr/bin/python3) against build/sluice, then its
#      transaction-mode files again with psycopg preparing every query;
#   4. builds build-asan/ with AddressSanitizer + UndefinedBehaviorSanitizer and
#      runs the unit tests and the integration suite again against it, then the
#      integration suite once more with TLS on both sides (SLUICE_TEST_TLS=1:
#      PostgreSQL with ssl=on, every sluice offering TLS to its clients and
#      verifying PostgreSQL's certificate); any sanitizer report fails the test
#      that ran it;
#   5. builds the libFuzzer targets (build-fuzz/, clang) and runs each over its
#      committed corpus, then fuzzes it for 10 seconds (scripts/fuzz.sh); a
#      crash fails the step;
#   6. prints a summary and exits non-zero if anything failed.
#
# Arguments are passed to pytest, e.g. `scripts/test.sh -k cancel -x`.
# Environment:
#   SLUICE_SKIP_ASAN=1      skip step 4 (for a quick local run; CI never sets it)
#   SLUICE_SKIP_FUZZ=1      skip step 5 (likewise)
#   SLUICE_PYTEST_ARGS=...  more pytest arguments
#   POOLER=pgbouncer        run the integration suite against PgBouncer (checks the tests)
#   SLUICE_TEST_JOBS=2      pytest worker processes per integration pass (pytest-xdist,
#                           whole files per worker); 1 runs them in this process (for
#                           -s, --pdb). The suite waits more than it computes: two
#                           workers take about 55 % of the time of one on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

PYTEST_ARGS=("$@")
if [ -n "${SLUICE_PYTEST_ARGS:-}" ]; then
	read -r -a extra <<<"$SLUICE_PYTEST_ARGS"
	PYTEST_ARGS+=("${extra[@]}")
fi

STEPS=()
FAILED=0
START_ALL=$SECONDS

# step NAME CMD...: run CMD, record its result and duration for the summary.
step() {
	local name=$1 start=$SECONDS rc
	shift
	printf '\n==================== %s ====================\n' "$name"
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		STEPS+=("$(printf 'PASS  %-34s %4ss' "$name" $((SECONDS - start)))")
	else
		STEPS+=("$(printf 'FAIL  %-34s %4ss  (exit %s)' "$name" $((SECONDS - start)) "$rc")")
		FAILED=1
	fi
	return $rc
}

skip() {
	STEPS+=("$(printf 'SKIP  %-34s        (%s)' "$1" "$2")")
}

summary() {
	printf '\n==================== summary ====================\n'
	printf '%s\n' "${STEPS[@]}"
	printf 'total %ss\n' $((SECONDS - START_ALL))
	if [ $FAILED -ne 0 ]; then
		printf 'RESULT: FAILED\n'
	else
		printf 'RESULT: all passed\n'
	fi
}

# pytest's arguments for SLUICE_TEST_JOBS workers: each file runs whole on one
# worker (its module fixtures stay one), each worker has its own PostgreSQL.
JOBS=${SLUICE_TEST_JOBS:-2}
PARALLEL=()
if [ "$JOBS" -gt 1 ]; then
	PARALLEL=(-n "$JOBS" --dist loadfile)
fi

integration() {
	local bin=$1
	shift
	env SLUICE_BIN="$bin" "$@" /usr/bin/python3 -m pytest tests/integration --durations=15 "${PARALLEL[@]}" \
		"${PYTEST_ARGS[@]}"
}

if ! step "install packages" ensure_packages "${SLUICE_BUILD_PKGS[@]}" "${SLUICE_TEST_PKGS[@]}" \
	"${SLUICE_FUZZ_PKGS[@]}"; then
	summary
	exit 1
fi

# ---- normal build
if step "build (build/, -Werror)" meson_build build -Dwerror=true; then
	step "unit tests" meson test -C build --print-errorlogs
	step "integration tests" integration build/sluice
	# again, with psycopg preparing every query at once (named prepared statements
	# from the first execution), for what runs in transaction and statement mode
	step "integration tests (prepare_threshold=0)" env SLUICE_TEST_PREPARE_THRESHOLD=0 \
		/usr/bin/python3 -m pytest tests/integration/test_transaction_mode.py \
		tests/integration/test_statement_mode.py tests/integration/test_isolation.py \
		tests/integration/test_prepared.py tests/integration/test_params.py \
		tests/integration/test_cancel.py tests/integration/test_copy.py "${PARALLEL[@]}" "${PYTEST_ARGS[@]}"
else
	skip "unit tests" "build failed"
	skip "integration tests" "build failed"
	skip "integration tests (prepare_threshold=0)" "build failed"
fi

# ---- sanitizer build
if [ "${SLUICE_SKIP_ASAN:-0}" = 1 ]; then
	skip "asan+ubsan build and tests" "SLUICE_SKIP_ASAN=1"
else
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1"
	ASAN_OPTIONS+=":check_initialization_order=1:strict_string_checks=1:print_summary=1"
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1"
	export ASAN_OPTIONS UBSAN_OPTIONS
	if step "build (build-asan/, asan+ubsan)" meson_build build-asan \
		-Db_sanitize=address,undefined -Db_lundef=false -Db_lto=false -Dwerror=true \
		-Dc_args=-fno-omit-frame-pointer; then
		step "unit tests (asan+ubsan)" meson test -C build-asan --print-errorlogs
		step "integration tests (asan+ubsan)" integration build-asan/sluice SLUICE_SANITIZED=1
		step "integration tests (asan+ubsan, TLS)" integration build-asan/sluice SLUICE_SANITIZED=1 \
			SLUICE_TEST_TLS=1
	else
		skip "unit tests (asan+ubsan)" "build failed"
		skip "integration tests (asan+ubsan)" "build failed"
		skip "integration tests (asan+ubsan, TLS)" "build failed"
	fi
fi

# ---- fuzz targets: the seeds once each, then a short run of each target, two at a time
if [ "${SLUICE_SKIP_FUZZ:-0}" = 1 ]; then
	skip "fuzz targets (corpus replay)" "SLUICE_SKIP_FUZZ=1"
else
	step "fuzz targets (corpus replay)" env FUZZ_JOBS=2 scripts/fuzz.sh 10
fi

summary
exit $FAILED
