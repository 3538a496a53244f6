package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sys "golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// threads is this process's thread count.
func threads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads: in /proc/self/status")
	return 0
}

// TestScrapesWhileLocked: scrapes that come while the pin directory's
// lock is held (a long apply, a set load) wait one behind the other, not
// each in flock of its own: a thread apiece, so a burst of them on a busy
// state grew serve by a thread per connection (Go's limit is 10000, then
// it dies) and crowded the lock that the reload and the CLI wait for.
// Once the lock is free, every one is answered from the state.
func TestScrapesWhileLocked(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	s, err := loader.OpenOrCreate(pin)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	var out strings.Builder
	log := newLogger(&out, time.Minute)
	srv := httptest.NewServer(&collector{dir: pin, reload: &reloader{dir: pin, log: log}, log: log})
	defer srv.Close()

	held, err := os.Open(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := sys.Flock(int(held.Fd()), sys.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	const clients = 64
	before := threads(t)
	var wg sync.WaitGroup
	bodies := make([]string, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			bodies[i] = string(b)
		}()
	}
	time.Sleep(time.Second) // every request in and waiting
	grown := threads(t) - before
	sys.Flock(int(held.Fd()), sys.LOCK_UN)
	wg.Wait()
	if grown > clients/4 {
		t.Errorf("%d scrapes waiting for the lock took %d more threads", clients, grown)
	}
	for i, b := range bodies {
		if !strings.Contains(b, "\nxdpfw_state_pinned 1\n") {
			t.Fatalf("scrape %d:\n%s", i, b)
		}
	}
}
