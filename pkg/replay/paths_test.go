package replay

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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

// TestEachFrameNoCapture: directories that hold no capture file, empty or
// with other files only, are an error naming them and the files a
// directory gives, not a replay of nothing; a capture file of no frames is
// read (no error, no frame), and a directory with one is not empty; beside
// a capture, each is reported.
func TestEachFrameNoCapture(t *testing.T) {
	empty, others := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(others, "README.md"), []byte("notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(others, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	noFrames := t.TempDir()
	if err := os.WriteFile(filepath.Join(noFrames, "none.pcap"), pcapFile(binary.LittleEndian, 4, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	each := func(files ...string) (frames, bad int, err error) {
		err = EachFrame(files, func(string, Frame) error { frames++; return nil }, func(error) { bad++ })
		return frames, bad, err
	}
	for _, files := range [][]string{{empty}, {others}, {empty, others}} {
		frames, bad, err := each(files...)
		if err == nil || frames+bad != 0 {
			t.Errorf("%v: %d frames, %d bad, error %v; want only an error", files, frames, bad, err)
			continue
		}
		for _, want := range append([]string{"no capture file in ", ".pcap, .pcapng and .cap"}, files...) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: error %q does not say %q", files, err, want)
			}
		}
	}
	if frames, bad, err := each(noFrames); err != nil || frames+bad != 0 {
		t.Errorf("%v: %d frames, %d bad, error %v; want nothing, no error", noFrames, frames, bad, err)
	}
	// Beside a capture, a directory holding none is reported, as a capture
	// that cannot be read is: the rest is read, and the replay says so.
	var said []string
	err := EachFrame([]string{empty, filepath.Join(noFrames, "none.pcap"), others}, func(string, Frame) error { return nil },
		func(err error) { said = append(said, err.Error()) })
	if err != nil || len(said) != 2 || !strings.Contains(said[0], "no capture file in "+empty+":") ||
		!strings.Contains(said[1], "no capture file in "+others+":") {
		t.Errorf("empty directories beside a capture: reported %q, error %v; want each named", said, err)
	}
	// A path that is not there is a capture that cannot be read, as ever.
	if _, bad, err := each(filepath.Join(empty, "gone.pcap")); err != nil || bad != 1 {
		t.Errorf("a missing capture: %d bad, error %v; want it reported as bad", bad, err)
	}
}

// TestEachFrameSymlinks: in a directory, a symbolic link with a capture's
// name is followed to its regular file (as ls or cat would), and one that
// leads nowhere is reported, not passed over.
func TestEachFrameSymlinks(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "real.pcap")
	b, err := os.ReadFile("../../testdata/pcaps/basic.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "link.pcap")); err != nil {
		t.Fatal(err)
	}
	files := map[string]int{}
	var bad []string
	err = EachFrame([]string{dir}, func(file string, _ Frame) error { files[file]++; return nil }, func(err error) { bad = append(bad, err.Error()) })
	if err != nil || len(bad) != 0 || files[filepath.Join(dir, "link.pcap")] == 0 || len(files) != 1 {
		t.Fatalf("frames by file %v, bad %v, error %v; want the linked capture's frames", files, bad, err)
	}
	dangling := filepath.Join(dir, "gone.pcap")
	if err := os.Symlink(filepath.Join(elsewhere, "nothing.pcap"), dangling); err != nil {
		t.Fatal(err)
	}
	bad = nil
	err = EachFrame([]string{dir}, func(string, Frame) error { return nil }, func(err error) { bad = append(bad, err.Error()) })
	if err != nil || len(bad) != 1 || !strings.HasPrefix(bad[0], dangling+": ") {
		t.Errorf("bad %q, error %v; want the dangling link named", bad, err)
	}
}

// TestEachFrameRotation: a directory gives the files tcpdump -C writes
// after a capture's first (x.pcap1, x.pcap2, ... x.pcap10), in the order
// it wrote them: they were passed over, and the replay of the directory
// read the first file alone and said nothing of the rest.
func TestEachFrameRotation(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{"x.pcap": "basic.pcap", "x.pcap1": "vlan.pcap", "x.pcap2": "neighbor.pcap",
		"x.pcap10": "fragments.pcap", "x.pcap.1": "basic.pcap", "notes1": "README.md"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/pcaps", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var order []string
	err := EachFrame([]string{dir}, func(file string, _ Frame) error {
		if len(order) == 0 || order[len(order)-1] != filepath.Base(file) {
			order = append(order, filepath.Base(file))
		}
		return nil
	}, func(err error) { t.Errorf("bad: %v", err) })
	if want := []string{"x.pcap", "x.pcap1", "x.pcap2", "x.pcap10"}; err != nil || !reflect.DeepEqual(order, want) {
		t.Errorf("files read %v (error %v), want %v", order, err, want)
	}
}

// TestEachFrameRotationWrapped: tcpdump -C -W N names its files x.pcap0
// to x.pcapN-1 and wraps round, writing x.pcap0 again after the last, so
// a directory gives them by the time of each file's first frame, not by
// number; ties go by number, and files with no frame to time (empty, or
// not a capture) after the others, still read (reported). By number,
// the replay ran the newest file first.
func TestEachFrameRotationWrapped(t *testing.T) {
	dir := t.TempDir()
	stamped := func(sec uint32) []byte {
		b := classicPcap(binary.LittleEndian, false, 1, make([]byte, 60))
		binary.LittleEndian.PutUint32(b[24:], sec)
		return b
	}
	for name, data := range map[string][]byte{
		"x.pcap0": stamped(300), "x.pcap1": stamped(400), "x.pcap2": stamped(100), "x.pcap3": stamped(200),
		"x.pcap4": classicPcap(binary.LittleEndian, false, 1), "x.pcap5": []byte("not a capture\n"),
		"y.pcap": stamped(50), "y.pcap1": stamped(50), "y.pcap2": stamped(40), "y.pcap10": stamped(50),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var order, bad []string
	err := EachFrame([]string{dir}, func(file string, _ Frame) error {
		order = append(order, filepath.Base(file))
		return nil
	}, func(err error) { bad = append(bad, err.Error()) })
	want := []string{"x.pcap2", "x.pcap3", "x.pcap0", "x.pcap1", "y.pcap2", "y.pcap", "y.pcap1", "y.pcap10"}
	if err != nil || !reflect.DeepEqual(order, want) {
		t.Errorf("files read %v (error %v), want %v", order, err, want)
	}
	if len(bad) != 1 || !strings.HasPrefix(bad[0], filepath.Join(dir, "x.pcap5")+": ") {
		t.Errorf("reported %q, want x.pcap5 alone", bad)
	}
}
