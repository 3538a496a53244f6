#!/usr/bin/env bash
# make test-kernels: boot each Debian kernel named (default: 6.1 6.12) under
# qemu and run internal/kernelcheck there against a static xdpfw, then print
# a summary: each kernel's result and time, and the verifier's processed
# instructions per program (internal/vstat) on each.
#
#   scripts/kernels/test.sh [KERNEL...]      # 6.1, 6.12, 5.10
#
# 5.10 is a kernel xdpfw refuses: there the check is only that it says so,
# in one line, quickly. KERNEL_TIMEOUT (seconds, default 900) bounds each
# boot; KERNEL_LOGS=DIR keeps the console logs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin

kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)
timeout=${KERNEL_TIMEOUT:-900}
work=$(mktemp -d /tmp/xdpfw-kernels.XXXXXX)
trap 'rm -rf "$work"' EXIT
logs=${KERNEL_LOGS:-$work}
mkdir -p "$logs"

for cmd in xdpfw kernelcheck vstat; do
	src=./cmd/xdpfw
	[ $cmd = xdpfw ] || src=./internal/$cmd
	CGO_ENABLED=0 go build -o "$work/$cmd" "$src"
done
mkdir -p "$work/testdata"
cp -r testdata/pcaps testdata/rulesets "$work/testdata/"
# The loader's migration tests, with the previous release's object they load.
CGO_ENABLED=0 go test -c -o "$work/loader.test" ./pkg/loader
mkdir -p "$work/loader/testdata"
cp pkg/loader/testdata/xdpfw-layout*.o "$work/loader/testdata/"

results=() insns=() passed=0 failed=0
for k in "${kernels[@]}"; do
	args=(-vstat /bin/vstat -object /xdpfw_bpfel.o -testdata /testdata -loader-test /bin/loader.test -loader-dir /loader)
	[ "$k" != 5.10 ] || args+=(-expect-refusal -max-insns 0)
	log=$logs/kernel-$k.log
	echo "=== kernel $k"
	start=$(date +%s) rc=0
	scripts/kernels/run.sh -t "$timeout" -l "$log" \
		-f "$work/xdpfw:/bin/xdpfw" -f "$work/vstat:/bin/vstat" \
		-f pkg/loader/xdpfw_bpfel.o:/xdpfw_bpfel.o -f "$work/testdata:/testdata" \
		-f "$work/loader.test:/bin/loader.test" -f "$work/loader:/loader" \
		"$k" "$work/kernelcheck" "${args[@]}" || rc=$?
	secs=$(($(date +%s) - start))
	checks=$(grep -sE '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
	if [ $rc -eq 0 ]; then
		status=ok passed=$((passed + 1))
	else
		status=FAIL failed=$((failed + 1))
		[ -n "$checks" ] || checks="no result (exit $rc)"
	fi
	results+=("$(printf '%-6s %-5s %5ss  %s' "$k" "$status" "$secs" "$checks")")
	while read -r _ prog n; do
		insns+=("$(printf '%-6s %-14s %8s' "$k" "$prog" "$n")")
	done < <(grep -sE '^insns ' "$log" || true)
done

echo
echo "KERNEL RESULT  TIME  CHECKS"
printf '%s\n' "${results[@]}"
echo
echo "KERNEL PROGRAM        PROCESSED INSNS (verifier; budget 250000 except on 5.10)"
printf '%s\n' "${insns[@]:-none}"
echo
echo "kernels: $passed passed, $failed failed"
[ $failed -eq 0 ]
