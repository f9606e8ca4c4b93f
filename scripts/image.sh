#!/bin/bash
# scripts/image.sh: build the sluice container image from conf/Containerfile.
#
#   scripts/image.sh                build sluice:<version> (version from meson.build)
#   scripts/image.sh --print-tag    print the tag it would build and exit
#   scripts/image.sh --print-mirror print the Debian mirror the base image would use
#
# It needs a running container engine (`docker info` must work); without one it
# exits 2 and says so. No registry is needed: when the base image
# (sluice-base:bookworm) does not exist yet, it is made here with debootstrap
# (--variant=minbase) from this machine's own Debian mirror (the first
# `bookworm` entry of /etc/apt/sources.list or /etc/apt/sources.list.d/*) and
# loaded with `docker import`. debootstrap is installed with apt-get if missing.
#
# Environment:
#   CONTAINER_ENGINE   docker (default) or another docker-compatible client (podman)
#   SLUICE_BASE_IMAGE  base image tag (sluice-base:bookworm)
#   SLUICE_IMAGE       image to build (sluice:<version>)
#   SLUICE_MIRROR      Debian mirror for debootstrap (default: the machine's own)
#   SLUICE_APT_DIR     where to read the apt sources from (/etc/apt)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

SUITE=bookworm
ENGINE=${CONTAINER_ENGINE:-docker}
BASE_IMAGE=${SLUICE_BASE_IMAGE:-sluice-base:$SUITE}
APT_DIR=${SLUICE_APT_DIR:-/etc/apt}

# project_version: the version: field of meson.build's project().
project_version() {
	sed -n "s/^[[:space:]]*version[[:space:]]*:[[:space:]]*'\([^']*\)'.*/\1/p" meson.build | head -n 1
}

# sources_mirror FILE...: the first URI of a `deb` entry for $SUITE in the apt
# source files given (one-line .list format or deb822 .sources format).
sources_mirror() {
	local f
	for f in "$@"; do
		[ -r "$f" ] || continue
		case $f in
		*.sources)
			# deb822: stanzas separated by blank lines; "Enabled: no" turns one off
			awk -v suite="$SUITE" '
				function flush() {
					if (!done && enabled && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " suite " ") && uris != "") {
						split(uris, u, " "); print u[1]; done = 1
					}
					types = suites = uris = ""; enabled = 1
				}
				BEGIN { enabled = 1 }
				/^[ \t]*#/ { next }
				/^[ \t]*$/ { flush(); next }
				{
					key = tolower($1); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
					if (key == "types:") types = val
					else if (key == "suites:") suites = val
					else if (key == "uris:") uris = val
					else if (key == "enabled:" && tolower(val) ~ /^no/) enabled = 0
				}
				END { flush() }' "$f"
			;;
		*)
			# one-line: deb [options] URI SUITE COMPONENT...
			awk -v suite="$SUITE" '
				$1 != "deb" { next }
				{
					i = 2
					if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
					if ($(i + 1) == suite) { print $i; exit }
				}' "$f"
			;;
		esac
	done | head -n 1
}

# debian_mirror: SLUICE_MIRROR, else the machine's own mirror for $SUITE.
debian_mirror() {
	if [ -n "${SLUICE_MIRROR:-}" ]; then
		printf '%s\n' "$SLUICE_MIRROR"
		return 0
	fi
	local files=()
	[ -f "$APT_DIR/sources.list" ] && files+=("$APT_DIR/sources.list")
	local f
	for f in "$APT_DIR"/sources.list.d/*.list "$APT_DIR"/sources.list.d/*.sources; do
		[ -f "$f" ] && files+=("$f")
	done
	[ ${#files[@]} -gt 0 ] || return 0
	sources_mirror "${files[@]}"
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot run $1"
		sudo -n "$@"
	fi
}

VERSION=$(project_version)
[ -n "$VERSION" ] || die "no version: in meson.build's project()"
IMAGE=${SLUICE_IMAGE:-sluice:$VERSION}

case ${1:-} in
--print-tag)
	printf '%s\n' "$IMAGE"
	exit 0
	;;
--print-mirror)
	m=$(debian_mirror)
	[ -n "$m" ] || die "no 'deb' source for $SUITE in $APT_DIR (set SLUICE_MIRROR)"
	printf '%s\n' "$m"
	exit 0
	;;
'') ;;
*)
	die "usage: scripts/image.sh [--print-tag | --print-mirror]"
	;;
esac

if ! command -v "$ENGINE" >/dev/null 2>&1 || ! "$ENGINE" info >/dev/null 2>&1; then
	# shellcheck disable=SC2016 # the backquotes are text
	printf 'error: no container engine: `%s info` fails (is the daemon running?). ' "$ENGINE" >&2
	printf 'Building the image needs one; the manifests in conf/kubernetes/ do not.\n' >&2
	exit 2
fi

# ---- the base image, made locally when missing
if "$ENGINE" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
	log "base image $BASE_IMAGE exists"
else
	MIRROR=$(debian_mirror)
	[ -n "$MIRROR" ] || die "no 'deb' source for $SUITE in $APT_DIR: set SLUICE_MIRROR to a Debian mirror"
	ensure_packages debootstrap
	ROOTFS=$(mktemp -d /tmp/sluice-rootfs.XXXXXX)
	trap 'as_root rm -rf "$ROOTFS"' EXIT
	log "debootstrap --variant=minbase $SUITE from $MIRROR"
	as_root debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >&2
	# the machine's own sources (with -updates and -security) replace the
	# single line debootstrap wrote, when they are in the deb822 format
	# (only a file whose mirror is the one used and whose keyrings the base has)
	for f in "$APT_DIR"/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		[ "$(sources_mirror "$f")" = "$MIRROR" ] || continue
		keys_ok=1
		while read -r k; do
			[ -f "$ROOTFS$k" ] || keys_ok=0
		done < <(awk 'tolower($1) == "signed-by:" { print $2 }' "$f")
		[ $keys_ok = 1 ] || continue
		as_root cp "$f" "$ROOTFS/etc/apt/sources.list.d/"
		as_root rm -f "$ROOTFS/etc/apt/sources.list"
	done
	# shellcheck disable=SC2016 # $1 is expanded by that sh
	as_root sh -c 'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' sh "$ROOTFS"
	log "importing it as $BASE_IMAGE"
	as_root tar -C "$ROOTFS" --numeric-owner -c . |
		"$ENGINE" import \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			--change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
	as_root rm -rf "$ROOTFS"
	trap - EXIT
fi

# ---- the image
log "building $IMAGE from conf/Containerfile"
"$ENGINE" build -f conf/Containerfile --build-arg "BASE=$BASE_IMAGE" -t "$IMAGE" .
log "built $IMAGE"
