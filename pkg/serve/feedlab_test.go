package serve

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// feedLab is a reloader on a throwaway state whose config names one
// IPv4 set file, feed, in a directory of its own (no watch sees it), and
// drops its sources: the serve set-file tests' common ground.
type feedLab struct {
	t         *testing.T
	pin, feed string
	conf      string
	out       bytes.Buffer
	r         *reloader
}

// newFeedLab writes the feed's first lines and the config, and starts
// the reloader (its first reload applied).
func newFeedLab(t *testing.T, first ...string) *feedLab {
	privtest.Require(t)
	l := &feedLab{t: t, pin: privtest.PinDir(t)}
	l.feed = filepath.Join(t.TempDir(), "feed.txt")
	l.conf = filepath.Join(t.TempDir(), "xdpfw.yaml")
	l.writeFeed(first...)
	l.writeConfig("")
	l.r = &reloader{dir: l.pin, path: l.conf, log: newLogger(&l.out, time.Minute)}
	l.r.reload("start", true)
	return l
}

// writeFeed rewrites the feed in place with lines.
func (l *feedLab) writeFeed(lines ...string) {
	l.t.Helper()
	if err := os.WriteFile(l.feed, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// writeConfig writes the config, extra lines after its one rule.
func (l *feedLab) writeConfig(extra string) {
	l.t.Helper()
	c := "policy: pass\nsets:\n  feed: {family: ipv4, file: " + l.feed + "}\nrules:\n  - {src: \"@feed\", action: drop}\n" + extra
	if err := os.WriteFile(l.conf, []byte(c), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// live is the set's elements in the pinned state.
func (l *feedLab) live() []netip.Prefix {
	l.t.Helper()
	s, err := loader.Open(l.pin)
	if err != nil {
		l.t.Fatalf("%v\n%s", err, l.out.String())
	}
	defer s.Close()
	ps, err := s.SetElements("feed")
	if err != nil {
		l.t.Fatal(err)
	}
	return ps
}
