#!/usr/bin/env bash
# Builds xdpfw_VERSION_ARCH.deb into OUTDIR with dpkg-deb: a static
# binary in /usr/sbin, its manual page, the systemd unit, and the example config
# /etc/xdpfw/xdpfw.yaml as a conffile (an upgrade never overwrites an
# edited one). The service is not enabled or started: the example lists
# eth0, which a host may not have; a removal stops it, an upgrade
# restarts it. Usage: scripts/deb.sh OUTDIR VERSION
set -euo pipefail
out=$1 version=$2
cd "$(dirname "$0")/.."
go=${GO:-go}
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT

install -d "$stage/DEBIAN" "$stage/usr/sbin" "$stage/lib/systemd/system" "$stage/etc/xdpfw" \
	"$stage/usr/share/doc/xdpfw/examples/kubernetes" "$stage/usr/share/man/man8"
CGO_ENABLED=0 "$go" build -trimpath -tags urfave_cli_no_docs -o "$stage/usr/sbin/xdpfw" ./cmd/xdpfw
install -m 0644 dist/xdpfw.service "$stage/lib/systemd/system/xdpfw.service"
install -m 0644 dist/xdpfw.yaml "$stage/etc/xdpfw/xdpfw.yaml"
install -m 0644 dist/kubernetes/*.yaml "$stage/usr/share/doc/xdpfw/examples/kubernetes/"
install -m 0644 README.md "$stage/usr/share/doc/xdpfw/README.md"
# -n: no name or time in the header, so the same page packs the same bytes.
gzip -9n < dist/xdpfw.8 > "$stage/usr/share/man/man8/xdpfw.8.gz"
chmod 0644 "$stage/usr/share/man/man8/xdpfw.8.gz"

echo /etc/xdpfw/xdpfw.yaml > "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: xdpfw
Version: $version
Architecture: $arch
Maintainer: xdpfw developers <xdpfw@example.org>
Installed-Size: $size
Section: net
Priority: optional
Homepage: https://github.com/xdpfw/xdpfw
Description: XDP firewall with atomic ruleset changes and offline replay
 xdpfw attaches one BPF program to network interfaces and enforces an
 ordered ruleset in the NIC driver. xdpfw.service keeps
 /etc/xdpfw/xdpfw.yaml applied and serves Prometheus metrics; enable it
 with: systemctl enable --now xdpfw
CONTROL
# The maintainer scripts are those dh_installsystemd --no-enable writes:
# deb-systemd-helper keeps what an admin's enable made (so a purge removes
# its links, with the unit file gone), deb-systemd-invoke honours
# policy-rc.d; each is left out where it is not installed, and the running
# systemd is left alone where there is none or dpkg works on another root
# (DPKG_ROOT).
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
case "$1" in
configure | abort-upgrade | abort-deconfigure | abort-remove)
	if command -v deb-systemd-helper >/dev/null; then
		deb-systemd-helper unmask xdpfw.service >/dev/null || true
		deb-systemd-helper update-state xdpfw.service >/dev/null || true
	fi
	if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		# An upgrade restarts a running service into the new binary;
		# the firewall keeps enforcing across the restart.
		if [ -n "$2" ]; then
			if command -v deb-systemd-invoke >/dev/null; then
				deb-systemd-invoke try-restart xdpfw.service >/dev/null || true
			else
				systemctl try-restart xdpfw.service >/dev/null || true
			fi
		fi
	fi
	;;
esac
POSTINST
# A removal stops the service, which would run on with its binary gone;
# an upgrade does not (postinst restarts it). Stopping leaves the
# firewall enforcing, as it always does: xdpfw detach --all, before the
# removal, takes it away.
cat > "$stage/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
	if command -v deb-systemd-invoke >/dev/null; then
		deb-systemd-invoke stop xdpfw.service >/dev/null || true
	else
		systemctl stop xdpfw.service >/dev/null || true
	fi
fi
PRERM
# A removal masks the unit (its enable links would lead nowhere) and a
# purge removes them and the mask; dpkg removes the conffile itself.
cat > "$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if command -v deb-systemd-helper >/dev/null; then
	case "$1" in
	remove)
		deb-systemd-helper mask xdpfw.service >/dev/null || true
		;;
	purge)
		deb-systemd-helper purge xdpfw.service >/dev/null || true
		deb-systemd-helper unmask xdpfw.service >/dev/null || true
		;;
	esac
fi
POSTRM
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"

mkdir -p "$out"
deb="$out/xdpfw_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
