package replay

import (
	"errors"
	"io"
	"os"
	"testing"
)

// TestOpenStdin: the capture "-" is standard input (tcpdump -w - | xdpfw
// replay -), read as the file itself is, and closing it leaves standard
// input open. It was refused as "-: no such file or directory".
func TestOpenStdin(t *testing.T) {
	const path = "../../testdata/pcaps/basic.pcap"
	frames := func(rd *Reader) int {
		t.Helper()
		n := 0
		for {
			_, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return n
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	rd, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := frames(rd)
	rd.Close()

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = saved }()
	rd, err = Open(Stdin)
	if err != nil {
		t.Fatalf("open -: %v", err)
	}
	if got := frames(rd); got != want || want == 0 {
		t.Errorf("- gave %d frames, the file %d", got, want)
	}
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); err != nil {
		t.Errorf("standard input after the capture's close: %v", err)
	}
}
