package loader

import (
	"github.com/xdpfw/xdpfw/pkg/kernel"
)

// stopChangesAt makes every change of s call stop at its named points
// (tx.reached); nil: no more.
func stopChangesAt(s *State, stop func(point string)) { s.stopAt = stop }

// egressHooksOnly makes attach try only hooks (layout.Egress*) until the
// test ends: the clsact path, proven on a kernel that has tcx.
func egressHooksOnly(t interface{ Cleanup(func()) }, hooks ...uint32) {
	old := egressHooks
	egressHooks = hooks
	t.Cleanup(func() { egressHooks = old })
}

// kernelEgress is the hook attach picks on this kernel: tcx from 6.6,
// clsact before (make test-kernels runs these tests on 6.1 too).
func kernelEgress(t interface{ Fatal(...any) }) string {
	release, err := kernel.Release()
	if err != nil {
		t.Fatal(err)
	}
	v, err := kernel.ParseRelease(release)
	if err != nil {
		t.Fatal(err)
	}
	if v.Less(kernel.Version{Major: 6, Minor: 6}) {
		return EgressClsact
	}
	return EgressTCX
}

// SizedTo is sizedTo, for the baseline benchmark: another build of the
// object loaded onto an instance's maps must be sized and set as load
// would size and set this build's.
var SizedTo = sizedTo

// BindValueSections is bindValueSections, for the baseline benchmark:
// another build's object binds its value sections as this one's does.
var BindValueSections = bindValueSections
