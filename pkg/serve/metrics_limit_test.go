package serve

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestMetricsConnectionLimit: the metrics server holds at most
// metricsMaxConns connections at once; one more waits, unanswered, until
// one of them closes, and is answered then. It accepted every one: 10,000
// clients that sent requests and read nothing (a scan, a flood) held
// about 1 GB of the firewall's memory and a goroutine apiece, and a real
// scrape, taking its turn behind theirs, waited 28 s.
func TestMetricsConnectionLimit(t *testing.T) {
	addr := startMetrics(t)
	get := func(c net.Conn, br *bufio.Reader, within time.Duration) error {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: xdpfw\r\n\r\n"); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(within))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
	// Each answered, so accepted, and then kept alive (for up to
	// metricsQuiet) holding its place.
	var held []net.Conn
	for i := range metricsMaxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := get(c, bufio.NewReader(c), 5*time.Second); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, metricsMaxConns, err)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	br := bufio.NewReader(extra)
	if err := get(extra, br, time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection %d, past the limit: %v, want no answer while %d are held", metricsMaxConns+1, err, metricsMaxConns)
	}
	held[0].Close()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("connection %d, once one closed: %v, want its answer", metricsMaxConns+1, err)
	}
	resp.Body.Close()
}
