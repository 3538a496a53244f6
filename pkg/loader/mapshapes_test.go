package loader

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// shapeOf is a spec's map shape, as objectMaps holds them.
func shapeOf(ms *ebpf.MapSpec) mapShape {
	return mapShape{ms.Type, ms.KeySize, ms.ValueSize, ms.MaxEntries, ms.Flags}
}

// TestObjectMapsMatchObject: the generated table of map shapes, which
// opening a state checks the pins against, is the embedded object's.
func TestObjectMapsMatchObject(t *testing.T) {
	spec, err := objectSpec()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, ms := range spec.Maps {
		if strings.HasPrefix(name, ".") {
			continue
		}
		n++
		if got, ok := objectMaps[name]; !ok || got != shapeOf(ms) {
			t.Errorf("objectMaps[%s] = %+v (%v), the object's %+v: run make generate", name, got, ok, shapeOf(ms))
		}
	}
	if n != len(objectMaps) {
		t.Errorf("objectMaps has %d maps (%v), the object %d", len(objectMaps), slices.Sorted(maps.Keys(objectMaps)), n)
	}
}
