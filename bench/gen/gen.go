// Package gen is the end-to-end benchmarks' traffic generator: a small XDP
// program (gen.c) run with BPF_PROG_TEST_RUN in live-frames mode, which
// rewrites each frame into a new flow and sends it out of a veth.
package gen

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel gen c/gen.c -- -I/usr/include/x86_64-linux-gnu -mcpu=v3 -Wall -Werror
