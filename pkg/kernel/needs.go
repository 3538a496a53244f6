package kernel

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// A Requirement is one kernel feature an object needs: its name as an
// operator would search for it, the first Linux release that has it, and
// how to find out whether this kernel does.
type Requirement struct {
	Name  string  `json:"name"`
	Since Version `json:"since"`
	// probe returns nil when the kernel has the feature, an error wrapping
	// ebpf.ErrNotSupported when it does not, any other error when it
	// cannot tell (not root, say).
	probe func() error
}

// Needs lists what the kernel must provide to load spec, read from the
// object itself (program types, map types, the helpers its instructions
// call, program flags), so a datapath change that needs more is checked
// without anyone updating a list. Requirements come in a stable order.
func Needs(spec *ebpf.CollectionSpec) []Requirement {
	var needs []Requirement
	add := func(r Requirement) {
		if !slices.ContainsFunc(needs, func(o Requirement) bool { return o.Name == r.Name }) {
			needs = append(needs, r)
		}
	}
	progNames := sortedKeys(spec.Programs)
	for _, name := range progNames {
		pt := spec.Programs[name].Type
		add(Requirement{Name: progTypeName(pt), Since: progTypeSince[pt], probe: func() error { return features.HaveProgramType(pt) }})
	}
	var mapTypes []ebpf.MapType
	rdonly := false
	for _, name := range sortedKeys(spec.Maps) {
		for m := spec.Maps[name]; m != nil; m = m.InnerMap {
			mapTypes = append(mapTypes, m.Type)
			rdonly = rdonly || m.Flags&unix.BPF_F_RDONLY_PROG != 0
		}
	}
	slices.Sort(mapTypes)
	for _, mt := range slices.Compact(mapTypes) {
		add(Requirement{Name: mapTypeName(mt), Since: mapTypeSince[mt], probe: func() error { return features.HaveMapType(mt) }})
	}
	if rdonly {
		// Constants set before loading (.rodata) live in a map only the
		// program may read.
		add(Requirement{Name: "read-only global data", Since: Version{5, 2}, probe: func() error { return features.HaveMapFlag(features.BPF_F_RDONLY_PROG) }})
	}
	for _, name := range progNames {
		p := spec.Programs[name]
		for _, ins := range p.Instructions {
			if !ins.IsBuiltinCall() {
				continue
			}
			fn, pt := asm.BuiltinFunc(ins.Constant), p.Type
			add(Requirement{Name: helperName(fn), Since: helperSince[fn], probe: func() error { return features.HaveProgramHelper(pt, fn) }})
		}
	}
	for _, name := range progNames {
		if p := spec.Programs[name]; p.Type == ebpf.XDP && p.Flags&unix.BPF_F_XDP_HAS_FRAGS != 0 {
			add(Requirement{Name: "xdp.frags programs", Since: Version{5, 18}, probe: haveXDPFrags})
		}
	}
	return needs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// helperName is the helper's C name, which kernel documentation and
// verifier messages use: FnXdpGetBuffLen is bpf_xdp_get_buff_len.
func helperName(fn asm.BuiltinFunc) string { return snake(fn.String()) }

func snake(goName string) string {
	name := strings.TrimPrefix(goName, "Fn")
	var b strings.Builder
	b.WriteString("bpf")
	for _, r := range name {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// progTypeName names a program type as tc(8) and the kernel's
// documentation do: the egress learner is a TC classifier, which
// cilium/ebpf spells SchedCLS.
func progTypeName(pt ebpf.ProgramType) string {
	if pt == ebpf.SchedCLS {
		return "TC classifier (sched_cls) programs"
	}
	return fmt.Sprintf("%s programs", pt)
}

func mapTypeName(mt ebpf.MapType) string {
	if name, ok := mapTypeNames[mt]; ok {
		return name
	}
	return fmt.Sprintf("%s maps", mt)
}

// The first release with each feature, from the kernel's history (the
// same figures as the bpf-helpers man page and cilium/ebpf's probes).
// Only what an XDP object and its TC egress learner plausibly use is listed: a feature missing
// here still gets probed, it is only reported without a version.
var (
	progTypeSince = map[ebpf.ProgramType]Version{
		ebpf.XDP: {4, 8}, ebpf.SchedCLS: {4, 1}, ebpf.SocketFilter: {3, 19},
	}
	mapTypeSince = map[ebpf.MapType]Version{
		ebpf.Hash: {3, 19}, ebpf.Array: {3, 19}, ebpf.ProgramArray: {4, 2},
		ebpf.PerfEventArray: {4, 3}, ebpf.PerCPUHash: {4, 6}, ebpf.PerCPUArray: {4, 6},
		ebpf.LRUHash: {4, 10}, ebpf.LRUCPUHash: {4, 10}, ebpf.LPMTrie: {4, 11},
		ebpf.ArrayOfMaps: {4, 12}, ebpf.HashOfMaps: {4, 12}, ebpf.DevMap: {4, 14},
		ebpf.CPUMap: {4, 15}, ebpf.XSKMap: {4, 18}, ebpf.DevMapHash: {5, 4},
		ebpf.RingBuf: {5, 8},
	}
	mapTypeNames = map[ebpf.MapType]string{
		ebpf.Hash: "hash maps", ebpf.Array: "array maps", ebpf.PerCPUHash: "per-CPU hash maps",
		ebpf.PerCPUArray: "per-CPU array maps", ebpf.LRUHash: "LRU hash maps", ebpf.LPMTrie: "LPM trie maps",
		ebpf.ArrayOfMaps: "arrays of maps", ebpf.HashOfMaps: "hashes of maps", ebpf.RingBuf: "ring buffers",
	}
	helperSince = map[asm.BuiltinFunc]Version{
		asm.FnMapLookupElem: {3, 19}, asm.FnMapUpdateElem: {3, 19}, asm.FnMapDeleteElem: {3, 19},
		asm.FnKtimeGetNs: {4, 1}, asm.FnGetPrandomU32: {4, 1}, asm.FnGetSmpProcessorId: {4, 1},
		asm.FnTailCall: {4, 2}, asm.FnSkbLoadBytes: {4, 5}, asm.FnRedirect: {4, 4}, asm.FnPerfEventOutput: {4, 4},
		asm.FnCsumDiff: {4, 6}, asm.FnXdpAdjustHead: {4, 10}, asm.FnRedirectMap: {4, 14},
		asm.FnXdpAdjustMeta: {4, 15}, asm.FnXdpAdjustTail: {4, 18}, asm.FnFibLookup: {4, 18},
		asm.FnRingbufOutput: {5, 8}, asm.FnRingbufReserve: {5, 8}, asm.FnRingbufSubmit: {5, 8},
		asm.FnRingbufDiscard: {5, 8}, asm.FnKtimeGetCoarseNs: {5, 11}, asm.FnLoop: {5, 17},
		asm.FnXdpGetBuffLen: {5, 18}, asm.FnXdpLoadBytes: {5, 18}, asm.FnXdpStoreBytes: {5, 18},
		asm.FnMapLookupPercpuElem: {5, 19},
	}
)
