package main

import "fmt"

// floorName is the row of a perf.ReadFloor of size bytes.
func floorName(size string) string {
	return "one read of a random line of a " + size + " array (no xdpfw: the floor of any structure this size)"
}

// floorNote says what a floor row means for a cold target comparing a
// large case with a small one: the large case pays what the small one
// does (base, baseNs) plus at least one read of a line of memory no
// recent frame brought in, which the floor (floorAbove: above the empty
// program) measures apart from any design. measured is the large case.
func floorNote(size, base string, baseNs, floorAbove, measured, goal float64) string {
	sum := baseNs + floorAbove
	return fmt.Sprintf("One run per frame, a read of a random line of %s costs %s ns above the empty program, whatever does it: "+
		"%s plus that one read is %s ns, %s× %s, about the least the larger case could cost here with any layout "+
		"(the target is %s×); it measured %s× that sum.",
		size, ns(floorAbove), base, ns(sum), ratio(sum/baseNs), base, ratio(goal), ratio(measured/sum))
}
