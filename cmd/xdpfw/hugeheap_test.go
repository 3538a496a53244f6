package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// TestGrowHeapOnHugePages: where the kernel gives huge pages by advice,
// after growHeapOnHugePages the heap's next large allocation lies in
// memory advised for them (its mapping's THPeligible in smaps is 1), and
// without it it does not. Each case runs in a child process: the heap
// this test binary has grown by now is not one to shape.
func TestGrowHeapOnHugePages(t *testing.T) {
	if mode := os.Getenv("XDPFW_HUGEHEAP_CHILD"); mode != "" {
		hugeHeapChild(t, mode == "grow")
		return
	}
	if thpByAdvice() == 0 {
		t.Skip("this kernel does not give transparent huge pages by advice (growHeapOnHugePages does nothing here)")
	}
	child := func(mode string) string {
		return childSays(t, "TestGrowHeapOnHugePages", "XDPFW_HUGEHEAP_CHILD="+mode, "eligible ")
	}
	if got := child("grow"); got != "1 1" {
		t.Errorf("after growHeapOnHugePages, THPeligible of an 8 MB allocation's middle and end: %s, want 1 1", got)
	}
	if got := child("plain"); got != "0 0" {
		t.Errorf("without growHeapOnHugePages, THPeligible of an 8 MB allocation's middle and end: %s, want 0 0", got)
	}
}

// hugeHeapChild prints whether an 8 MB allocation made after (grow) or
// without growHeapOnHugePages lies in memory advised for huge pages, at
// its middle and at its end. Its start may not: the heap's allocations
// start in the memory the runtime mapped before.
func hugeHeapChild(t *testing.T, grow bool) {
	if grow {
		growHeapOnHugePages(hugeHeapBytes)
	}
	b := make([]byte, 8<<20)
	mid, end := uintptr(unsafe.Pointer(&b[len(b)/2])), uintptr(unsafe.Pointer(&b[len(b)-1]))
	fmt.Printf("eligible %s %s\n", thpEligible(t, mid), thpEligible(t, end))
	runtime.KeepAlive(b)
}

// thpEligible is the THPeligible field of the mapping holding addr.
func thpEligible(t *testing.T, addr uintptr) string {
	t.Helper()
	return smapsField(t, addr, "THPeligible:")
}

// smapsField is the value of field (with its colon) in smaps for the
// mapping holding addr, its unit left out.
func smapsField(t *testing.T, addr uintptr, field string) string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := mappingRange(line); ok {
			in = lo <= addr && addr < hi
			continue
		}
		if v, ok := strings.CutPrefix(line, field); ok && in {
			return strings.TrimSuffix(strings.TrimSpace(v), " kB")
		}
	}
	t.Fatalf("no mapping in /proc/self/smaps holds %#x, or it has no %s", addr, field)
	return ""
}

// TestFirstHeapOnHugePages: where the kernel gives huge pages by advice,
// firstHeapOnHugePages leaves the heap's first mapping (the runtime's,
// from before main) holding huge pages, and without it that mapping holds
// none. In child processes, as TestGrowHeapOnHugePages.
func TestFirstHeapOnHugePages(t *testing.T) {
	if mode := os.Getenv("XDPFW_FIRSTHEAP_CHILD"); mode != "" {
		firstHeapChild(t, mode == "collapse")
		return
	}
	if thpByAdvice() == 0 {
		t.Skip("this kernel does not give transparent huge pages by advice (firstHeapOnHugePages does nothing here)")
	}
	child := func(mode string) string {
		return childSays(t, "TestFirstHeapOnHugePages", "XDPFW_FIRSTHEAP_CHILD="+mode, "huge kB ")
	}
	if got := child("collapse"); got == "0" {
		t.Errorf("after firstHeapOnHugePages, the heap's first mapping holds no huge page")
	}
	if got := child("plain"); got != "0" {
		t.Errorf("without firstHeapOnHugePages, the heap's first mapping holds %s kB of huge pages, want none", got)
	}
}

// firstHeapChild prints the kB of huge pages in the mapping holding a
// fresh heap object, after firstHeapOnHugePages (collapse) or without.
func firstHeapChild(t *testing.T, collapse bool) {
	if collapse {
		firstHeapOnHugePages()
	}
	probe := new([64]byte)
	fmt.Printf("huge kB %s\n", smapsField(t, uintptr(unsafe.Pointer(probe)), "AnonHugePages:"))
	runtime.KeepAlive(probe)
}

// childSays runs test alone in a child process of this test binary with
// env added, and gives what follows prefix on the line of its output that
// starts so. The heap a test binary has grown is not one to shape: each
// case runs in a process of its own.
func childSays(t *testing.T, test, env, prefix string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child (%s): %v\n%s", env, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	t.Fatalf("child (%s) printed no line starting %q:\n%s", env, prefix, out)
	return ""
}
