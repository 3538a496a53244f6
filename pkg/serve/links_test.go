package serve

import (
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestWatchLinksStopsQuietly: stopping the link watch logs nothing. Its
// subscription's receive failing on the socket the stop closed was
// logged as a fault at every stop of serve ("watching the network
// interfaces" error="Receive failed: resource temporarily unavailable").
func TestWatchLinksStopsQuietly(t *testing.T) {
	privtest.Require(t)
	var out lockedBuffer
	stop := make(chan struct{})
	watchLinks(func(string) bool { return false }, newLogger(&out, time.Minute), stop)
	time.Sleep(200 * time.Millisecond) // subscribed
	close(stop)
	time.Sleep(2 * time.Second) // the subscription's goroutine sees its socket closed
	if s := out.String(); strings.Contains(s, "network interfaces") {
		t.Errorf("the link watch's stop logged:\n%s", s)
	}
}
