package perf_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// TestInNetnsGoexit: a function that ends its goroutine without returning
// (what t.Fatal does off the test's goroutine) is an error, not a wait
// that lasts until go test's timeout; a return is passed on as it is.
func TestInNetnsGoexit(t *testing.T) {
	privtest.Require(t)
	ns, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	want := errors.New("from fn")
	if err := perf.InNetns(ns, func() error { return want }); err != want {
		t.Fatalf("a returned error came back as %v", err)
	}
	got := make(chan error, 1)
	go func() { got <- perf.InNetns(ns, func() error { runtime.Goexit(); return nil }) }()
	select {
	case err := <-got:
		if err == nil || !strings.Contains(err.Error(), "without returning") {
			t.Fatalf("Goexit in fn gave %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("InNetns still waiting a minute after fn called runtime.Goexit")
	}
}
