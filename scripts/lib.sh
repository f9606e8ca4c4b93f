# scripts/lib.sh: shell helpers shared by scripts/test.sh and scripts/run.sh.
# Source it from the repository root: `. scripts/lib.sh`.

# Packages needed to build and run sluice.
SLUICE_BUILD_PKGS=(build-essential meson ninja-build pkg-config libevent-dev libssl-dev libinih-dev libpq-dev
	postgresql postgresql-contrib)
# Packages needed only by the tests (pgbouncer, prometheus: comparison and exporter
# tests; iproute2: ss, to read socket options back from the kernel; asyncpg, Go
# with pgx v4 and a JDK with pgJDBC: real drivers with their defaults; openssl:
# the test certificates; python3-yaml: test_packaging reads the Kubernetes manifests;
# chromium: test_status_page loads the status page in a real browser).
SLUICE_TEST_PKGS=(python3-pytest python3-psycopg python3-pytest-timeout python3-pytest-xdist python3-asyncpg pgbouncer prometheus
	prometheus-pgbouncer-exporter iproute2 golang-go golang-github-jackc-pgx-v4-dev default-jdk-headless
	libpostgresql-jdbc-java openssl python3-yaml chromium fonts-liberation)
# Packages needed by the libFuzzer targets (scripts/fuzz.sh): Debian 12's clang
# is clang-14, whose libFuzzer, ASan and UBSan runtimes are in libclang-rt-14-dev
# (only recommended by clang, and we install without recommends).
SLUICE_FUZZ_PKGS=(clang libclang-rt-14-dev)

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# pkg_installed NAME: true when dpkg has NAME fully installed.
pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ensure_packages PKG...: apt-get install whichever of PKG are missing (nothing
# at all, not even apt-get update, when every one is there).
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		pkg_installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing missing packages: ${missing[*]}"
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]} by hand"
		sudo=(sudo -n)
	fi
	"${sudo[@]}" apt-get update -q || return 1
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# meson_build DIR [meson setup options...]: configure DIR (once; later runs
# apply the options with `meson configure`) and compile it.
meson_build() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		if [ $# -gt 0 ]; then
			meson configure "$dir" "$@" >/dev/null || return 1
		fi
	else
		meson setup "$dir" "$@" || return 1
	fi
	meson compile -C "$dir"
}

# free_port: print a TCP port on 127.0.0.1 nobody listens on.
free_port() {
	if [ -x /usr/bin/python3 ]; then
		/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	else
		local p
		for p in $(seq 55432 55532); do
			if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
				echo "$p"
				return 0
			fi
		done
		return 1
	fi
}

# port_in_use PORT: true when something accepts connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# as_pg_user CMD...: run CMD as the postgres system user when we are root
# (PostgreSQL refuses to run as root), else as ourselves.
as_pg_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
