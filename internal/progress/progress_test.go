package progress

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNotTerminal: a bar on a file or a pipe draws nothing, and its
// Reader is the reader itself.
func TestNotTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	for _, out := range []*os.File{f, pw} {
		if IsTerminal(out) {
			t.Fatalf("%s is a terminal?", out.Name())
		}
		b := New(out, "loading", 100, false)
		src := strings.NewReader("data")
		if r := b.Reader(src); r != io.Reader(src) {
			t.Errorf("Reader wrapped the input of a disabled bar")
		}
		b.Add(50)
		b.Done()
	}
	if st, _ := f.Stat(); st.Size() != 0 {
		t.Errorf("a bar on a regular file wrote %d bytes", st.Size())
	}
	pw.Close()
	if got, _ := io.ReadAll(pr); len(got) != 0 {
		t.Errorf("a bar on a pipe wrote %q", got)
	}
}

// openPTY returns the terminal end of a new pseudo-terminal.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

// TestTerminal: a terminal gets the bar unless quiet is set.
func TestTerminal(t *testing.T) {
	tty := openPTY(t)
	if !IsTerminal(tty) {
		t.Fatalf("%s is not a terminal?", tty.Name())
	}
	if b := New(tty, "x", 10, true); b.w != nil {
		t.Errorf("quiet bar on a terminal is enabled")
	}
	if b := New(tty, "x", 10, false); b.w == nil {
		t.Errorf("bar on a terminal is disabled")
	}
}

// TestDrawing: what an enabled bar writes, redrawn only when the whole
// percentage changes, and cleared at the end.
func TestDrawing(t *testing.T) {
	var out bytes.Buffer
	b := newBar(&out, "set blocklist", 1000)
	data := strings.Repeat("x", 1000)
	n, err := io.Copy(io.Discard, b.Reader(strings.NewReader(data)))
	if err != nil || n != 1000 {
		t.Fatal(n, err)
	}
	b.Add(5) // past the total: stays at 100%
	b.Done()
	draws := strings.Split(out.String(), "\r")[1:]
	if len(draws) < 2 || len(draws) > 102 {
		t.Fatalf("%d draws: %q", len(draws), out.String())
	}
	if last := draws[len(draws)-2]; last != "set blocklist [##############################] 100%" {
		t.Errorf("last draw %q", last)
	}
	if draws[len(draws)-1] != "\x1b[K" {
		t.Errorf("not cleared at the end: %q", draws[len(draws)-1])
	}

	out.Reset()
	b = newBar(&out, "x", 4)
	for range 4 {
		b.Add(1)
	}
	want := "\rx [#######.......................]  25%\rx [###############...............]  50%" +
		"\rx [######################........]  75%\rx [##############################] 100%"
	if out.String() != want {
		t.Errorf("draws\n%q\nwant\n%q", out.String(), want)
	}
}
