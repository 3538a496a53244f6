// Package gen is the end-to-end benchmarks' traffic generator: a small XDP
// program (gen.c) that rewrites each frame into a new flow and sends it
// out of a veth, run with BPF_PROG_TEST_RUN in live-frames mode or, where
// the kernel refuses that, attached to a veth pair its frames go round.
package gen

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type bpf_devmap_val gen c/gen.c -- -I/usr/include/x86_64-linux-gnu -mcpu=v3 -Wall -Werror
