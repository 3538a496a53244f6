// Package layout is the layout of the maps the datapath and the control
// plane share, as xdp/layout.h declares it: its constants and the types Go
// needs that the loader's bpf2go bindings lack. layout_gen.go is generated
// from the C (`make generate`); this file adds only what Go indexes by
// dimension. pkg/rules, pkg/classifier, pkg/model and pkg/loader import it.
package layout

//go:generate go run ../../internal/layoutgen -cc clang-19 -pkg layout -out layout_gen.go ../../xdp/layout.c -- -I/usr/include/x86_64-linux-gnu -mcpu=v3 -Wall -Werror

// AtomBase is each dimension's atom capacity cumulated in dimension
// order, and AtomBase[NumDims] is AtomsPerGen: dimension d has room for
// AtomBase[d+1]-AtomBase[d] atoms.
var AtomBase = [...]uint32{
	DimSrc: AtomBaseSrc, DimDst: AtomBaseDst, DimProto: AtomBaseProto,
	DimSport: AtomBaseSport, DimDport: AtomBaseDport, DimL4: AtomBaseL4,
	DimVlan: AtomBaseVlan, DimIvlan: AtomBaseIvlan, DimDscp: AtomBaseDscp,
	DimTtl: AtomBaseTtl, DimLen: AtomBaseLen, DimIface: AtomBaseIface,
	DimSset: AtomBaseSset, DimDset: AtomBaseDset, DimCt: AtomBaseCt,
	NumDims: AtomsPerGen,
}

// ChunkBase is where each value dimension's chunks start within a
// generation's value_atoms, indexed by dimension (0 for the others).
var ChunkBase = [NumDims]uint32{
	DimProto: ChunkBaseProto, DimSport: ChunkBaseSport, DimDport: ChunkBaseDport,
	DimL4: ChunkBaseL4, DimVlan: ChunkBaseVlan, DimIvlan: ChunkBaseIvlan,
	DimDscp: ChunkBaseDscp, DimTtl: ChunkBaseTtl, DimLen: ChunkBaseLen,
	DimSset: ChunkBaseSset, DimDset: ChunkBaseDset, DimCt: ChunkBaseCt,
}
