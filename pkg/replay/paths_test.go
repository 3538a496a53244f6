package replay

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestEachFrameDirectory: a directory stands for the captures under it,
// recursively and in lexical order; its other files are left alone.
func TestEachFrameDirectory(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("../../testdata/pcaps/vlan.pcap", filepath.Join(dir, "b.PCAP"))
	copyFile("../../testdata/pcaps/basic.pcap", filepath.Join(dir, "a", "z.pcap"))
	copyFile("../../testdata/pcaps/neighbor.pcap", filepath.Join(dir, "c.cap"))
	copyFile("../../testdata/pcaps/README.md", filepath.Join(dir, "README.md"))

	frames := func(files ...string) map[string]int {
		counts := map[string]int{}
		var order []string
		err := EachFrame(files, func(file string, f Frame) error {
			if counts[file] == 0 {
				order = append(order, filepath.Base(file))
			}
			counts[file]++
			return nil
		}, func(err error) { t.Errorf("bad: %v", err) })
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 1 && !reflect.DeepEqual(order, []string{"z.pcap", "b.PCAP", "c.cap"}) {
			t.Errorf("order %v, want a/z.pcap, b.PCAP, c.cap", order)
		}
		return counts
	}
	got := frames(dir)
	want := frames(filepath.Join(dir, "a", "z.pcap"), filepath.Join(dir, "b.PCAP"), filepath.Join(dir, "c.cap"))
	if len(got) != 3 || !reflect.DeepEqual(got, want) {
		t.Errorf("frames by file of the directory %v, want those of its captures %v", got, want)
	}
}
