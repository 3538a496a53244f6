#!/usr/bin/env bash
# A throwaway lab: two network namespaces joined by a veth pair, xdpfw on
# the server's side, a few rules, real traffic, the counters, then clean up.
# Usage: scripts/demo.sh [path/to/xdpfw]   (as root)
set -euo pipefail

XDPFW=$(realpath "${1:-bin/xdpfw}")
id="$$"
client="xdpfw-demo-c-$id"
server="xdpfw-demo-s-$id"
export XDPFW_PIN_DIR="/sys/fs/bpf/xdpfw-demo-$id"   # private to this demo

# What this run made, so cleanup removes that and nothing else (a
# namespace or pin directory of the same name another run left, say).
made_client="" made_server="" made_pins="" capture_pid="" capture_out=""
[ -e "$XDPFW_PIN_DIR" ] || made_pins=1

# cleanup runs however the demo ends: done, a step failing (set -e), or
# interrupted (INT, TERM, HUP: the capture running in the background too).
cleanup() {
	trap - EXIT INT TERM HUP
	if [ -n "$capture_pid" ]; then
		kill "$capture_pid" 2>/dev/null || true
		wait "$capture_pid" 2>/dev/null || true
	fi
	[ -z "$capture_out" ] || rm -f "$capture_out"
	# nsenter, not `ip netns exec`: the latter remounts /sys and would
	# hide the pins on the host's BPF filesystem.
	if [ -n "$made_server" ]; then
		nsenter --net="/run/netns/$server" "$XDPFW" detach --all >/dev/null 2>&1 || true
		ip netns del "$server" 2>/dev/null || true # the veth pair with it
	fi
	[ -z "$made_client" ] || ip netns del "$client" 2>/dev/null || true
	# Pins detach did not remove (an attach that failed half way).
	[ -z "$made_pins" ] || rm -rf "$XDPFW_PIN_DIR" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
srv() { echo "# xdpfw $*"; nsenter --net="/run/netns/$server" "$XDPFW" "$@"; }
in_client() { ip netns exec "$client" "$@"; }

# probe NAME CMD...: run a probe from the client and say what happened.
probe() {
	local name=$1; shift
	if in_client timeout 2 "$@" >/dev/null 2>&1; then
		printf '  %-34s reached the server\n' "$name"
	else
		printf '  %-34s blocked\n' "$name"
	fi
}
tcp() { bash -c "exec 3<>/dev/tcp/$1/$2" 2>&1 | grep -q refused; }  # RST = arrived
traffic() {
	probe "ping 10.77.0.2" ping -c 2 -i 0.2 -W 1 10.77.0.2
	probe "ping6 fd77::2" ping -6 -c 2 -i 0.2 -W 1 fd77::2
	probe "tcp 10.77.0.2:22" bash -c "$(declare -f tcp); tcp 10.77.0.2 22"
	probe "tcp 10.77.0.2:80" bash -c "$(declare -f tcp); tcp 10.77.0.2 80"
	probe "tcp [fd77::2]:443" bash -c "$(declare -f tcp); tcp fd77::2 443"
}

step "lab: $client (10.77.0.1, fd77::1) <-> veth <-> $server (10.77.0.2, fd77::2)"
ip netns add "$client"
made_client=1
ip netns add "$server"
made_server=1
# Made in the lab's namespaces, not in this one and moved: names taken
# here (an interface vc or vs of the host's) cannot clash, and nothing is
# left here if a step fails.
ip link add vc netns "$client" type veth peer name vs netns "$server"
for ns in "$client" "$server"; do ip -n "$ns" link set lo up; done
ip -n "$client" addr add 10.77.0.1/24 dev vc
ip -n "$client" addr add fd77::1/64 dev vc nodad
ip -n "$server" addr add 10.77.0.2/24 dev vs
ip -n "$server" addr add fd77::2/64 dev vs nodad
ip -n "$client" link set vc up
ip -n "$server" link set vs up
# Native XDP on veth needs the peer to accept the frames XDP passes on.
ip netns exec "$client" ethtool -K vc gro on >/dev/null 2>&1 || true

step "before xdpfw: everything reaches the server (closed TCP ports answer RST)"
traffic

step "attach xdpfw to the server's interface"
srv attach vs --mode native
srv status

step "rules: drop TCP 22 except from the client's /32, drop all ICMP, drop TCP to fd77::/64 port 443"
srv rule add --priority 10 --src 10.77.0.1 --proto tcp --dport 22 --action pass
srv rule add --priority 20 --proto tcp --dport 22 --action drop
srv rule add --proto icmp --action drop
srv rule add --dst fd77::/64 --proto tcp --dport 443 --action drop
traffic

step "delete the ICMP rule while the lab runs: ping is back at once"
srv rule del 3
traffic

step "per-rule counters and verdict counters"
srv rule list
srv stats

step "default policy drop: only neighbour discovery and what rules pass get through"
srv policy drop
traffic
srv stats

step "see what xdpfw drops, with the rule that dropped it (tcpdump runs after XDP and never sees it)"
echo "# xdpfw capture   (for 6 s, while the client probes)"
capture_out=$(mktemp)
nsenter --net="/run/netns/$server" timeout -s INT 6 "$XDPFW" capture >"$capture_out" 2>&1 &
capture_pid=$!
sleep 1
probe "tcp 10.77.0.2:80" bash -c "$(declare -f tcp); tcp 10.77.0.2 80"
probe "tcp [fd77::2]:443" bash -c "$(declare -f tcp); tcp fd77::2 443"
wait "$capture_pid" || true
capture_pid=""
cat "$capture_out"
rm -f "$capture_out"

step "prove a ruleset offline: replay a capture through the real program, no interface needed"
repo=$(dirname "$(dirname "$(realpath "$0")")")
srv replay --rules "$repo/testdata/rulesets/lockdown.yaml" --verify --summary "$repo/testdata/pcaps/basic.pcap"

step "a host firewall with connection tracking: policy drop, replies to the host's own flows let in"
# The host (192.0.2.10, 2001:db8::10) opens connections, then strangers
# try: frames going out are learned, replies are established or related,
# the rest dropped as new or invalid.
srv replay --rules "$repo/testdata/rulesets/hostfw.yaml" --verify \
	--local 192.0.2.10/32,2001:db8::10/128 "$repo/testdata/pcaps/hostfw.pcap"

step "clean up: detach removes the program, maps and rules"
srv detach vs
