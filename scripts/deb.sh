#!/usr/bin/env bash
# Builds xdpfw_VERSION_ARCH.deb into OUTDIR with dpkg-deb: a static
# binary in /usr/sbin, the systemd unit, and the example config
# /etc/xdpfw/xdpfw.yaml as a conffile (an upgrade never overwrites an
# edited one). The service is not enabled or started: the example lists
# eth0, which a host may not have. Usage: scripts/deb.sh OUTDIR VERSION
set -euo pipefail
out=$1 version=$2
cd "$(dirname "$0")/.."
go=${GO:-go}
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT

install -d "$stage/DEBIAN" "$stage/usr/sbin" "$stage/lib/systemd/system" "$stage/etc/xdpfw" \
	"$stage/usr/share/doc/xdpfw/examples/kubernetes"
CGO_ENABLED=0 "$go" build -trimpath -tags urfave_cli_no_docs -o "$stage/usr/sbin/xdpfw" ./cmd/xdpfw
install -m 0644 dist/xdpfw.service "$stage/lib/systemd/system/xdpfw.service"
install -m 0644 dist/xdpfw.yaml "$stage/etc/xdpfw/xdpfw.yaml"
install -m 0644 dist/kubernetes/*.yaml "$stage/usr/share/doc/xdpfw/examples/kubernetes/"
install -m 0644 README.md "$stage/usr/share/doc/xdpfw/README.md"

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
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	# An upgrade reloads a running service into the new binary; the
	# firewall keeps enforcing across the restart.
	systemctl try-restart xdpfw.service || true
fi
POSTINST
cat > "$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
POSTRM
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"

mkdir -p "$out"
deb="$out/xdpfw_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
