package capture

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// frame is an Ethernet frame of l3 and l4 with n bytes of payload.
func frame(t *testing.T, n int, l3 gopacket.SerializableLayer, l4 gopacket.SerializableLayer) []byte {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	switch l3.(type) {
	case *layers.IPv4:
		eth.EthernetType = layers.EthernetTypeIPv4
	case *layers.IPv6:
		eth.EthernetType = layers.EthernetTypeIPv6
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if nl, ok := l4.(interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}); ok {
		nl.SetNetworkLayerForChecksum(l3.(gopacket.NetworkLayer))
	}
	if err := gopacket.SerializeLayers(buf, opts, eth, l3, l4, gopacket.Payload(make([]byte, n))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLineCutFrame: a frame cut by the snap length shows the headers the
// capture holds whole, as tcpdump does, and says it was cut; cut inside
// them, it says only that.
func TestLineCutFrame(t *testing.T) {
	v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{198, 51, 100, 2}}
	tcp := frame(t, 1400, v4, &layers.TCP{SrcPort: 40000, DstPort: 443, ACK: true, Window: 512})
	v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	udp := frame(t, 1400, v6, &layers.UDP{SrcPort: 5353, DstPort: 53})
	const cut = "(cut by the snap length)"
	for _, c := range []struct {
		name  string
		frame []byte
		snap  int
		want  string
	}{
		{"tcp whole", tcp, len(tcp), "tcp 192.0.2.1:40000 > 198.51.100.2:443, length 1454"},
		{"tcp cut after its header", tcp, 64, "tcp 192.0.2.1:40000 > 198.51.100.2:443 " + cut + ", length 1454"},
		{"tcp cut at its flags", tcp, 14 + 20 + 14, "tcp 192.0.2.1:40000 > 198.51.100.2:443 " + cut + ", length 1454"},
		{"tcp cut before its flags", tcp, 14 + 20 + 13, "rule 3 " + cut + ", length 1454"},
		{"tcp cut in the IP header", tcp, 20, "rule 3 " + cut + ", length 1454"},
		{"udp6 cut after its header", udp, 62, "udp [2001:db8::1]:5353 > [2001:db8::2]:53 " + cut + ", length 1462"},
		{"udp6 cut in its header", udp, 61, "rule 3 " + cut + ", length 1462"},
	} {
		rec := loader.CaptureRecord{Len: len(c.frame), Data: c.frame[:c.snap], RuleID: 3, Action: "drop", Reason: "rule"}
		got := Line(rec, time.Unix(0, 0), "eth0")
		if !strings.HasSuffix(got, c.want) {
			t.Errorf("%s: %q, want it to end %q", c.name, got, c.want)
		}
	}
}
