package e2e

import (
	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/perf"
)

// DropProgram is the no-op receiver: XDP_DROP and nothing else, the most
// frames per second the receiving veth can take with XDP.
func DropProgram() (*ebpf.Program, error) {
	return perf.ConstProgram("xdp_noop_drop", 1) // XDP_DROP
}
