package serve

import (
	"fmt"
	"os"
	"strconv"
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

// TestWatchLinksAsksQuietly: the link watch starting sends nothing to
// the other listeners of link events. It asked for the interfaces there
// are on its subscription's socket, whose requests go to the group too:
// every listener got it (ip monitor printed "Unknown message: type=0x12",
// another serve logged a fault, TestWatchLinksIgnoresOtherSubscribers).
func TestWatchLinksAsksQuietly(t *testing.T) {
	privtest.Require(t)
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	heard := make(chan error, 16)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case heard <- err:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range updates {
		}
	}()
	var out lockedBuffer
	stop := make(chan struct{})
	defer close(stop)
	added := watchLinks(func(name string) bool { return name == "xdpfwlq0" }, newLogger(&out, time.Minute), stop)
	for end := time.After(time.Second); ; {
		select {
		case err := <-heard:
			if ourPort(t, err) {
				t.Errorf("a listener of link events got, as the watch started: %v", err)
			}
			continue
		case <-end:
		}
		break
	}
	// And it still sees what it watches for: a listed interface made.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "xdpfwlq0"}, PeerName: "xdpfwlq1"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	defer netlink.LinkDel(veth)
	select {
	case name := <-added:
		if name != "xdpfwlq0" {
			t.Errorf("the watch reported %q, want xdpfwlq0", name)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the watch did not report xdpfwlq0 made; its log:\n%s", out.String())
	}
}

// ourPort reports whether err names as its sender a netlink socket of
// this process: other processes on the machine (another test's serve)
// may send to the group meanwhile.
func ourPort(t *testing.T, err error) bool {
	var port uint64
	if _, serr := fmt.Sscanf(err.Error(), "Wrong sender portid %d,", &port); serr != nil {
		return true // not a message dropped: whatever it is, it is news
	}
	inodes := map[string]bool{}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.Trim(l[len("socket:"):], "[]")] = true
		}
	}
	table, rerr := os.ReadFile("/proc/self/net/netlink")
	if rerr != nil {
		t.Fatal(rerr)
	}
	// sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 10 && f[1] == "0" && f[2] == strconv.FormatUint(port, 10) && inodes[f[9]] {
			return true
		}
	}
	return false
}

// TestWatchLinksLogsGone: a listed interface renamed away, or deleted,
// is logged once each, naming it (it had been said by the metrics
// alone); an interface the config does not name is not.
func TestWatchLinksLogsGone(t *testing.T) {
	privtest.Require(t)
	var out lockedBuffer
	stop := make(chan struct{})
	defer close(stop)
	listed := func(name string) bool { return name == "xdpfwlg0" || name == "xdpfwlg2" }
	watchLinks(listed, newLogger(&out, time.Minute), stop)
	time.Sleep(200 * time.Millisecond) // subscribed
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "xdpfwlg0"}, PeerName: "xdpfwlg1"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	defer netlink.LinkDel(veth)
	other := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "xdpfwlg3"}, PeerName: "xdpfwlg4"}
	if err := netlink.LinkAdd(other); err != nil {
		t.Fatal(err)
	}
	defer netlink.LinkDel(other)
	time.Sleep(200 * time.Millisecond)
	link, err := netlink.LinkByName("xdpfwlg0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetName(link, "xdpfwlg5"); err != nil {
		t.Fatal(err)
	}
	defer netlink.LinkDel(link) // by its index
	second := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "xdpfwlg2"}, PeerName: "xdpfwlg6"}
	if err := netlink.LinkAdd(second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := netlink.LinkDel(second); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkDel(other); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`msg="an interface the config names was renamed: the config is applied to one of that name when it appears" interface=xdpfwlg0 renamed=xdpfwlg5`,
		`msg="an interface the config names is gone (deleted, or moved to another network namespace): the config is applied to one of that name when it appears" interface=xdpfwlg2`,
	}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		log := out.String()
		missing := ""
		for _, w := range want {
			if strings.Count(log, w) != 1 {
				missing = w
			}
		}
		if missing == "" {
			if strings.Contains(log, "xdpfwlg3") {
				t.Errorf("an interface the config does not name was logged:\n%s", log)
			}
			return
		}
		if time.Now().After(end) {
			t.Fatalf("the log lacks (once) %s:\n%s", missing, log)
		}
	}
}
