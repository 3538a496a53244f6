package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// prepareMemory readies the heap of a state command (stateCommands;
// command is the first argument): the heap mapped so far and its next
// hugeHeapBytes on huge pages, then whatever it grows by past them locked
// as it is mapped. In that
// order: a locked heap maps each piece it grows by at once, in 4 KB
// pages, before any advice could reach it.
func prepareMemory(command string) {
	if !stateCommands[command] {
		return
	}
	firstHeapOnHugePages()
	growHeapOnHugePages(hugeHeapBytes)
	lockFutureMemory(command)
}

// hugeHeapBytes is the heap put on huge pages before a state command
// runs: more than a `rule add` at 4095 rules allocates in all (about
// 10.5 MB), which is what it is sized for. Only the pages touched become
// resident, so a smaller command pays nothing for the rest.
const hugeHeapBytes = 16 << 20

// thpSysfs is where the kernel describes transparent huge pages.
const thpSysfs = "/sys/kernel/mm/transparent_hugepage"

// growHeapOnHugePages makes the heap's next n bytes come from memory
// advised for transparent huge pages (madvise(MADV_HUGEPAGE)): each first
// touch there maps 2 MB at once instead of 4 KB. Where a page fault is
// dear, as in a guest whose faults go to its host, that is much of a
// change's time: on the development VM, touching 10 MB took 29–49 ms in
// 4 KB pages (locked or not) and about 1 ms in 2 MB ones, and a `rule
// add` at 4095 rules spent 30 ms in main instead of 43, measured in
// turns. The price is collecting a nearly empty heap: 3–4 ms there,
// for two collections in fact (the allocation passes GOGC=400's 16 MB
// minimum goal and starts one itself; keeping the collector off around
// it measured no better).
//
// Go does not advise its heap itself, and each piece it maps is a new
// mapping that would drop an advice given beforehand. So the heap is
// grown here by one allocation of n bytes, which the runtime maps whole
// and leaves untouched (fresh memory is known zero), the advice is given
// on it, and a collection frees it again: the runtime takes the pages of
// the heap's next allocations from there, lowest address first.
//
// Where memory is fragmented, the kernel may compact it to find a 2 MB
// page for such a fault, or falls back to 4 KB pages. Nothing happens
// unless the kernel gives huge pages by advice (thpByAdvice).
func growHeapOnHugePages(n int) {
	huge := thpByAdvice()
	if huge == 0 || n < 2*huge {
		return
	}
	b := make([]byte, n)
	// The 2 MB-aligned part: madvise works on whole pages, and the
	// huge pages of an advised range are its aligned ones.
	off := int(-uintptr(unsafe.Pointer(&b[0])) & uintptr(huge-1))
	whole := (len(b) - off) &^ (huge - 1)
	_ = unix.Madvise(b[off:off+whole], unix.MADV_HUGEPAGE)
	b = nil
	runtime.GC()
}

// firstHeapOnHugePages puts the heap the runtime mapped first (its
// first 4 MB, mapped before main runs) on huge pages, as
// growHeapOnHugePages does for the heap after it. The runtime fills the
// lowest free pages first, so a command's first allocations after
// growHeapOnHugePages land there, each first touch of a page a fault:
// on the development VM, a `rule add` at 4095 rules took about 1,190 page
// faults before (median of 16 runs) and 860 after, about 8 ms at 25 µs a
// fault. The pages already touched are copied into the huge pages
// (MADV_COLLAPSE, Linux 6.1 on; refused before, which changes nothing).
func firstHeapOnHugePages() {
	huge := thpByAdvice()
	if huge == 0 {
		return
	}
	heapProbe = new([64]byte) // made now, so on the heap
	lo, hi, ok := mappingOf(uintptr(unsafe.Pointer(heapProbe)))
	if !ok {
		return
	}
	// By address, not a slice: the range holds other objects.
	for at := (lo + uintptr(huge) - 1) &^ uintptr(huge-1); at+uintptr(huge) <= hi; at += uintptr(huge) {
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, at, uintptr(huge), unix.MADV_HUGEPAGE)
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, at, uintptr(huge), unix.MADV_COLLAPSE)
	}
}

// heapProbe is an object put on the heap by firstHeapOnHugePages, which
// finds the heap's first mapping as the one holding it.
var heapProbe *[64]byte

// mappingOf is the start and end of the mapping holding addr, from
// /proc/self/maps.
func mappingOf(addr uintptr) (lo, hi uintptr, ok bool) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, 0, false
	}
	for line := range strings.Lines(string(maps)) {
		if lo, hi, ok := mappingRange(line); ok && lo <= addr && addr < hi {
			return lo, hi, true
		}
	}
	return 0, 0, false
}

// mappingRange parses the range of a mapping's line in /proc/self/maps,
// or its first line in smaps ("c000000000-c000400000 rw-p ...").
func mappingRange(line string) (lo, hi uintptr, ok bool) {
	r, _, _ := strings.Cut(line, " ")
	a, b, found := strings.Cut(r, "-")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(a, 16, 64)
	y, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(x), uintptr(y), true
}

// thpByAdvice is the size of a transparent huge page where the kernel
// gives them by advice only (mode "madvise": the development VM's, and
// Ubuntu's default), else 0: with "always" (Debian's kernels) the heap
// gets them without advice, with "never" not at all.
func thpByAdvice() int {
	mode, err := os.ReadFile(thpSysfs + "/enabled")
	if err != nil || !strings.Contains(string(mode), "[madvise]") {
		return 0
	}
	size, err := os.ReadFile(thpSysfs + "/hpage_pmd_size")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(size)))
	if err != nil || n <= 0 || n&(n-1) != 0 {
		return 0
	}
	return n
}
