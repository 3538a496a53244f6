package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	sys "golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/fixtures"
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

// scrapedWhileLocked serves the metrics of a new state in a throwaway
// pin directory, whose lock the test holds (as a long apply would) until
// it calls unlock.
func scrapedWhileLocked(t *testing.T) (srv *httptest.Server, unlock func()) {
	t.Helper()
	privtest.Require(t)
	pin := privtest.PinDir(t)
	s, err := loader.OpenOrCreate(pin)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	log := newLogger(io.Discard, time.Minute)
	srv = httptest.NewServer(&collector{dir: pin, reload: &reloader{dir: pin, log: log}, log: log})
	t.Cleanup(srv.Close)
	held, err := os.Open(pin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	if err := sys.Flock(int(held.Fd()), sys.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return srv, func() { sys.Flock(int(held.Fd()), sys.LOCK_UN) }
}

// TestScrapesWhileLocked: scrapes that come while the pin directory's
// lock is held (a long apply, a set load) wait one behind the other, not
// each in flock of its own: a thread apiece, so a burst of them on a busy
// state grew serve by a thread per connection (Go's limit is 10000, then
// it dies) and crowded the lock that the reload and the CLI wait for.
// Once the lock is free, every one is answered from the state.
func TestScrapesWhileLocked(t *testing.T) {
	srv, unlock := scrapedWhileLocked(t)
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
	unlock()
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

// evicted is the scraped xdpfw_ct_flows_total{event="evicted"}.
func evicted(t *testing.T, c *collector) string {
	t.Helper()
	var b strings.Builder
	if err := c.collect().writeTo(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, `xdpfw_ct_flows_total{event="evicted"} `); ok {
			return v
		}
	}
	t.Fatalf("no evicted flows in:\n%s", b.String())
	return ""
}

// TestScrapeEvictionsNeverGoBack: the evicted flows are worked out (the
// flows inserted less those the table holds, expired or flushed), and a
// scrape counts the table after it read the counters, while the datapath
// inserts: a flow inserted between the two is in the table and not in
// the inserts, so that scrape said one eviction fewer than the one
// before, which Prometheus takes for a counter reset (increase() then
// counts every eviction again). Here a flow taken out of the table
// behind the counters' back makes one eviction, and put back it is in the
// table and not in the inserts, as a flow inserted between the two reads
// is for that scrape.
func TestScrapeEvictionsNeverGoBack(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	s, err := loader.OpenOrCreate(pin)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	egress, err := ebpf.LoadPinnedProgram(filepath.Join(pin, "prog_egress"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer egress.Close()
	out := fixtures.Peer{Src: "192.0.2.10", Dst: "198.51.100.1"}
	for i := range 4 {
		if _, err := egress.Run(&ebpf.RunOptions{Data: out.UDP(uint16(10000+i), 53)}); err != nil {
			t.Fatal(err)
		}
	}
	ct, err := ebpf.LoadPinnedMap(filepath.Join(pin, "ct"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	var key, val []byte
	iter := ct.Iterate()
	if !iter.Next(&key, &val) {
		t.Fatalf("no flow learned: %v", iter.Err())
	}
	if err := ct.Delete(key); err != nil {
		t.Fatal(err)
	}
	var out2 strings.Builder
	log := newLogger(&out2, time.Minute)
	c := &collector{dir: pin, reload: &reloader{dir: pin, log: log}, log: log}
	if got := evicted(t, c); got != "1" {
		t.Fatalf("evicted %s after a flow left the table unseen, want 1", got)
	}
	if err := ct.Put(key, val); err != nil {
		t.Fatal(err)
	}
	if got := evicted(t, c); got != "1" {
		t.Errorf("evicted %s once the flow is back, want 1 still: a counter never goes back", got)
	}
}

// TestScrapesGiveUpWhileLocked: a scrape waiting its turn behind one in
// the pin directory's lock (held by a long apply, or one stopped with
// ^Z) gives up when its client does (Prometheus's scrape timeout): each
// waited until the lock was free, a goroutine and a descriptor apiece,
// so serve grew by one at every scrape for as long as the lock was held.
func TestScrapesGiveUpWhileLocked(t *testing.T) {
	srv, unlock := scrapedWhileLocked(t)
	// The scrape in the lock, answered once it is free.
	first := make(chan string, 1)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			first <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		first <- string(b)
	}()
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	const clients = 20
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
			if resp, err := c.Get(srv.URL); err == nil {
				resp.Body.Close()
				t.Error("a scrape was answered while the lock was held")
			}
		}()
	}
	wg.Wait()
	left := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if left = runtime.NumGoroutine() - before; left <= clients/4 {
			break
		}
	}
	if left > clients/4 {
		t.Errorf("%d scrapes whose clients gave up while the lock was held left %d more goroutines waiting", clients, left)
	}
	unlock()
	if b := <-first; !strings.Contains(b, "\nxdpfw_state_pinned 1\n") {
		t.Errorf("the scrape in the lock, once it was free:\n%s", b)
	}
}
