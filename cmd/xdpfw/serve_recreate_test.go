package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestServeMetricsInterfaceMadeAgain: an interface deleted and made
// again under its name (a veth, a VLAN) and attached by hand is a new
// attachment, while the gone one stays recorded under the same name. The
// metrics tell the two apart by ifindex: each series once (Prometheus
// keeps one of a series given twice, so the attached gauge read 0 for a
// running interface and the counters jumped between the two), the
// running one attached. The file lists no interfaces (serve applies a
// file listing it again when it is made, forgetting the gone record);
// once it lists it, the reload forgets the gone one's record: its series
// go.
func TestServeMetricsInterfaceMadeAgain(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	exe := buildXdpfw(t)
	pin := privtest.PinDir(t)
	name, ns := newRandomNS(t, "xdpfw-again")
	// makeVeth makes again0 (and its peer) and returns its ifindex.
	makeVeth := func() int {
		t.Helper()
		var (
			index int
			err   error
		)
		inNS(t, ns, func() {
			if err = netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "again0"}, PeerName: "again0p"}); err != nil {
				return
			}
			var l netlink.Link
			if l, err = netlink.LinkByName("again0"); err == nil {
				index = l.Attrs().Index
			}
		})
		if err != nil {
			t.Fatalf("make again0: %v", err)
		}
		return index
	}
	var upErr error
	inNS(t, ns, func() {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		upErr = err
	})
	if upErr != nil {
		t.Fatalf("lo up: %v", upErr)
	}
	attach := func() {
		t.Helper()
		var attachErr error
		inNS(t, ns, func() {
			_, _, attachErr = runCLIBoth(pin, "", "attach", "--mode", "generic", "again0")
		})
		if attachErr != nil {
			t.Fatalf("attach again0: %v", attachErr)
		}
	}
	first := makeVeth()
	attach()
	cfg := writeFile(t, t.TempDir(), "xdpfw.yaml", "policy: pass\nrules:\n  - {proto: udp, dport: 9, action: drop}\n")

	p := startProc(t, "nsenter", "--net=/run/netns/"+name, exe, "--pin-dir", pin, "serve", "--config", cfg, "--metrics-listen", "127.0.0.1:0")
	url := p.metricsAt()
	p.waitLog("config applied", "trigger=start")

	var delErr error
	inNS(t, ns, func() {
		l, err := netlink.LinkByName("again0")
		if err == nil {
			err = netlink.LinkDel(l)
		}
		delErr = err
	})
	if delErr != nil {
		t.Fatalf("delete again0: %v", delErr)
	}
	second := makeVeth()
	if second == first {
		t.Fatalf("again0 made again with its old ifindex %d", first)
	}
	attach()

	// The server listens in the namespace: the connection is made there
	// (a socket is its maker's thread's namespace's), the request on it.
	var (
		conn    net.Conn
		dialErr error
	)
	inNS(t, ns, func() {
		conn, dialErr = net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/metrics"))
	})
	if dialErr != nil {
		t.Fatal(dialErr)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}}
	body, err := fetchMetrics(client, url)
	if err != nil {
		t.Fatal(err)
	}
	fams := parseMetrics(t, url, body)
	att := metricValues(fams, "xdpfw_interface_attached")
	want := map[string]float64{
		fmt.Sprintf("ifindex=%d,interface=again0,mode=generic", first):  0,
		fmt.Sprintf("ifindex=%d,interface=again0,mode=generic", second): 1,
	}
	if fmt.Sprint(att) != fmt.Sprint(want) {
		t.Errorf("xdpfw_interface_attached %v, want %v", att, want)
	}
	for _, fam := range []string{"xdpfw_interface_verdict_packets_total", "xdpfw_interface_verdict_bytes_total"} {
		n := 0
		for labels := range metricValues(fams, fam) {
			if strings.Contains(labels, fmt.Sprintf("ifindex=%d,", second)) {
				n++
			}
		}
		if n != len(verdictMetricLabels) {
			t.Errorf("%s has %d series of the running again0 (ifindex %d), want %d:\n%s", fam, n, second, len(verdictMetricLabels), body)
		}
	}
	replaceFile(t, cfg, "policy: pass\ninterfaces: [{name: again0, mode: generic}]\nrules:\n  - {proto: udp, dport: 9, action: drop}\n")
	p.waitLog(`trigger="file changed"`)
	if body, err = fetchMetrics(client, url); err != nil {
		t.Fatal(err)
	}
	att = metricValues(parseMetrics(t, url, body), "xdpfw_interface_attached")
	want = map[string]float64{fmt.Sprintf("ifindex=%d,interface=again0,mode=generic", second): 1}
	if fmt.Sprint(att) != fmt.Sprint(want) {
		t.Errorf("after a reload of the file listing again0: xdpfw_interface_attached %v, want %v", att, want)
	}
	p.signal(syscall.SIGTERM)
	if code := p.exit(); code != 0 {
		t.Errorf("serve exited %d on SIGTERM", code)
	}
}
