package serve

import (
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

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

// TestWatchLinksIgnoresOtherSubscribers: another process subscribing to
// link events with a dump of the interfaces there are (a second xdpfw
// serve starting, for another pin directory) logs nothing in this one.
// Its request goes to every listener of the group, which the
// subscription drops as not the kernel's: each was logged as a fault
// ("watching the network interfaces" error="Wrong sender portid 8275,
// expected 0").
func TestWatchLinksIgnoresOtherSubscribers(t *testing.T) {
	privtest.Require(t)
	var out lockedBuffer
	stop := make(chan struct{})
	defer close(stop)
	watchLinks(func(string) bool { return false }, newLogger(&out, time.Minute), stop)
	time.Sleep(200 * time.Millisecond) // subscribed
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{ListExisting: true}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range updates {
		}
	}()
	time.Sleep(time.Second)
	close(done)
	if s := out.String(); strings.Contains(s, "network interfaces") {
		t.Errorf("another subscriber's dump request was logged:\n%s", s)
	}
}
