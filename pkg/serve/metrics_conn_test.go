package serve

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMetricsConnectionBounds: the metrics server closes a connection
// that stays silent, before its first request or after one (kept alive),
// and refuses headers past its cap. It had no bound but the first
// request's header timeout: a client that sent a request and then
// nothing held a goroutine and a descriptor for good, and headers of up
// to 1 MiB were read. The wait is the real timeout (metricsQuiet); the
// bound on it is one only a hang exceeds.
func TestMetricsConnectionBounds(t *testing.T) {
	addr := startMetrics(t)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn, br *bufio.Reader, header string) *http.Response {
		t.Helper()
		if br == nil {
			br = bufio.NewReader(c)
		}
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: xdpfw\r\n"+header+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	big := get(dial(), nil, "X-Big: "+strings.Repeat("a", 2*metricsMaxHeader)+"\r\n")
	if big.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers of %d bytes: %s, want 431", 2*metricsMaxHeader, big.Status)
	}

	fresh := dial()
	kept := dial()
	br := bufio.NewReader(kept)
	if resp := get(kept, br, ""); resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /: %s (close %v), want 200 kept alive", resp.Status, resp.Close)
	}
	var wg sync.WaitGroup
	for _, silent := range []struct {
		name string
		c    net.Conn
		r    io.Reader
	}{
		{"a connection that never sent a request", fresh, fresh},
		{"a kept-alive connection silent after its request", kept, br},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			silent.c.SetReadDeadline(time.Now().Add(6 * metricsQuiet))
			n, err := silent.r.Read(make([]byte, 1))
			switch {
			case err == nil:
				t.Errorf("%s: the server sent %d bytes unasked", silent.name, n)
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Errorf("%s: still open after %s", silent.name, 6*metricsQuiet)
			case err != io.EOF && !strings.Contains(err.Error(), "reset"):
				t.Errorf("%s: read %d bytes, %v; want it closed", silent.name, n, err)
			}
		}()
	}
	wg.Wait()
}

// syncBuffer is a strings.Builder the logger and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMetrics serves metrics of no state on a port of its own until the
// test ends, and gives the address the log names.
func startMetrics(t *testing.T) string {
	t.Helper()
	var out syncBuffer
	log := newLogger(&out, time.Minute)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	if err := serveMetrics("127.0.0.1:0", &collector{log: log}, log, stop); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`url=http://(\S+)/metrics`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address logged:\n%s", out.String())
	}
	return m[1]
}
