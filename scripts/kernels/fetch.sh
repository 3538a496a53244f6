#!/usr/bin/env bash
# Fetch one Debian kernel package (never installed: apt-get download, then
# dpkg-deb -x) into the cache and print the directory it was unpacked in.
# Usage: fetch.sh 6.1|6.12|5.10
# Cache: $XDPFW_KERNEL_CACHE (default /var/cache/xdpfw-kernels); a package
# already unpacked there is reused without touching the network again.
set -euo pipefail

name=${1:?usage: fetch.sh 6.1|6.12|5.10}
cache=${XDPFW_KERNEL_CACHE:-/var/cache/xdpfw-kernels}
mkdir -p "$cache"

# Bullseye (for 5.10) is not in this machine's sources: a private apt
# configuration with its own sources list and lists directory keeps the
# host's apt state untouched.
bullseye_apt() {
	local dir=$cache/apt-bullseye
	mkdir -p "$dir/lists/partial"
	cat >"$dir/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bullseye-security main
SRC
	apt_opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=-"
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache")
	mkdir -p "$dir/cache/archives/partial"
	# Lists younger than a day are good enough to resolve the package name.
	if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
		apt-get "${apt_opts[@]}" update -qq >&2
	fi
}

# The metapackage's dependency names the current ABI's image package.
depends_of() {
	apt-cache "${apt_opts[@]}" depends "$1" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

# resolve sets pkg to the image package for the kernel asked for.
resolve() {
	case $name in
	6.1) pkg=$(depends_of linux-image-amd64) ;;
	6.12)
		pkg=$(apt-cache pkgnames linux-image-6.12. | grep -E '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' | sort -V | tail -1)
		;;
	5.10) pkg=$(depends_of linux-image-amd64) ;;
	esac
	[ -n "${pkg:-}" ] || { echo "fetch.sh: no package found for kernel $name" >&2; exit 1; }
}

apt_opts=()
case $name in
6.1 | 6.12) ;;
5.10) bullseye_apt ;;
*) echo "fetch.sh: unknown kernel $name (want 6.1, 6.12 or 5.10)" >&2; exit 2 ;;
esac
resolve

dest=$cache/$pkg
if [ ! -f "$dest/.complete" ]; then
	echo "fetch.sh: downloading $pkg" >&2
	tmp=$(mktemp -d "$cache/.dl.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# apt-get download writes into the current directory; _apt must be able
	# to write there for the sandboxed download.
	chmod 777 "$tmp"
	# Lists older than the archive name a package it no longer has:
	# update them once and resolve again.
	if ! (cd "$tmp" && apt-get "${apt_opts[@]}" download -qq "$pkg" >&2); then
		apt-get "${apt_opts[@]}" update -qq >&2
		resolve
		dest=$cache/$pkg
		(cd "$tmp" && apt-get "${apt_opts[@]}" download -qq "$pkg" >&2)
	fi
	rm -rf "$dest"
	dpkg-deb -x "$tmp"/*.deb "$tmp/root"
	mv "$tmp/root" "$dest"
	touch "$dest/.complete"
fi
echo "$dest"
