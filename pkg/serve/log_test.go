package serve

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestLimited: a repeated warning is logged once per interval, and the
// next line says how many were held back.
func TestLimited(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(&buf, time.Hour)
	for range 5 {
		l.limited("scrape", "cannot read", "error", "boom")
	}
	l.limited("watch", "watch failed")
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("5 warnings of one kind and 1 of another gave %d lines, want 2:\n%s", n, buf.String())
	}
	// As if the interval had passed.
	l.last["scrape"] = l.last["scrape"].Add(-2 * time.Hour)
	buf.Reset()
	l.limited("scrape", "cannot read", "error", "boom")
	if line := buf.String(); !strings.Contains(line, `suppressed="4 more like this since `) || strings.Count(line, "\n") != 1 {
		t.Errorf("after the interval: %q, want one line counting the 4 held back", line)
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\nb"); got != "a b" {
		t.Errorf("oneLine: %q", got)
	}
	long := strings.Repeat("é", 400)
	if got := oneLine(long); len(got) > maxErrorLabel+3 || !strings.HasSuffix(got, "...") || !strings.HasPrefix(long, strings.TrimSuffix(got, "...")) {
		t.Errorf("oneLine of %d bytes: %d bytes, %q...", len(long), len(got), got[:20])
	}
}
