package loader

// The datapath object and its Go bindings are generated from xdp/ with a
// pinned clang and committed, so building xdpfw needs no C toolchain.
// `make generate` reruns this; `make check-generated` proves it is current.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type xdp_md -type gen_config xdpfw ../../xdp/xdpfw.c -- -I../../xdp -I/usr/include/x86_64-linux-gnu -mcpu=v3 -Wall -Werror
//go:generate go run ../../internal/mapshapes -pkg loader -out mapshapes_gen.go xdpfw_bpfel.o
