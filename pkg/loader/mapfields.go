package loader

import (
	"reflect"

	"github.com/cilium/ebpf"
)

// mapFields names every map field of m by the map's name in the object:
// the `ebpf` tags bpf2go gives the fields of xdpfwMaps. So a map declared
// in xdp/xdpfw.c is pinned, opened and closed with no Go list to extend.
func mapFields(m *xdpfwMaps) map[string]**ebpf.Map {
	v := reflect.ValueOf(m).Elem()
	fields := make(map[string]**ebpf.Map, v.NumField())
	for i := range v.NumField() {
		fields[v.Type().Field(i).Tag.Get("ebpf")] = v.Field(i).Addr().Interface().(**ebpf.Map)
	}
	return fields
}
