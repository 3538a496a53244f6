// Package layout is the layout of the maps the datapath and the control
// plane share, as xdp/layout.h declares it: its constants and the types Go
// needs that the loader's bpf2go bindings lack. layout_gen.go is generated
// from the C (`make generate`); this file adds only what Go indexes by
// dimension. pkg/rules, pkg/classifier, pkg/model and pkg/loader import it.
package layout

//go:generate go run ../../internal/layoutgen -cc clang-19 -pkg layout -out layout_gen.go ../../xdp/layout.c -- -I/usr/include/x86_64-linux-gnu -mcpu=v3 -Wall -Werror

// VecBase is where each dimension's vectors start within a generation,
// indexed by dimension, and VecBase[NumDims] is VecPerGen: dimension d has
// VecBase[d+1]-VecBase[d] atoms.
var VecBase = [...]uint32{
	DimSrc: VecBaseSrc, DimDst: VecBaseDst, DimProto: VecBaseProto,
	DimSport: VecBaseSport, DimDport: VecBaseDport, DimL4: VecBaseL4,
	DimVlan: VecBaseVlan, DimIvlan: VecBaseIvlan, DimDscp: VecBaseDscp,
	DimTtl: VecBaseTtl, DimLen: VecBaseLen, DimIface: VecBaseIface,
	DimSset: VecBaseSset, DimDset: VecBaseDset, DimCt: VecBaseCt,
	NumDims: VecPerGen,
}

// ChunkBase is where each value dimension's chunks start within a
// generation's value_atoms, indexed by dimension (0 for the others).
var ChunkBase = [NumDims]uint32{
	DimProto: ChunkBaseProto, DimSport: ChunkBaseSport, DimDport: ChunkBaseDport,
	DimL4: ChunkBaseL4, DimVlan: ChunkBaseVlan, DimIvlan: ChunkBaseIvlan,
	DimDscp: ChunkBaseDscp, DimTtl: ChunkBaseTtl, DimLen: ChunkBaseLen,
	DimSset: ChunkBaseSset, DimDset: ChunkBaseDset, DimCt: ChunkBaseCt,
}
