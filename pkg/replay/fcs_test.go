package replay

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestFCSLeftOut: a capture that says its Ethernet records end with a
// frame check sequence (classic pcap's FCS bits beside the link type,
// pcapng's if_fcslen and epb_flags) replays them without it, as XDP sees
// them: the FCS made a 60-byte frame 64, so a length rule decided it
// wrongly. A record cut inside its FCS is whole; one cut before it is
// truncated to the frame's own length.
func TestFCSLeftOut(t *testing.T) {
	frame := bytes.Repeat([]byte{0xab}, 60)
	withFCS := append(append([]byte(nil), frame...), 1, 2, 3, 4)
	type want struct {
		data []byte
		wire int
	}
	full, cut := want{frame, 60}, want{frame[:30], 60}
	ngIDBFCS := func(bits byte) []byte {
		body := binary.LittleEndian.AppendUint16(nil, linkTypeEthernet)
		body = binary.LittleEndian.AppendUint16(body, 0)
		body = binary.LittleEndian.AppendUint32(body, 0)
		if bits != 0 {
			body = append(body, ngOpt(13, []byte{bits})...)
		}
		return ngBlock(ngInterfaceDesc, append(body, 0, 0, 0, 0))
	}
	for _, tc := range []struct {
		name string
		file []byte
		want []want
	}{
		{"pcap", pcapFile(binary.LittleEndian, 4, 0x24000000|linkTypeEthernet,
			whole(withFCS), rec{withFCS[:62], 64}, rec{withFCS[:30], 64}), []want{full, full, cut}},
		{"pcap-no-fcs", pcapFile(binary.LittleEndian, 4, linkTypeEthernet, whole(frame)), []want{full}},
		{"pcapng-if_fcslen", bytes.Join([][]byte{ngSHB(), ngIDBFCS(32),
			ngEPB(0, withFCS, 64, 0), ngEPB(0, withFCS[:30], 64, 0)}, nil), []want{full, cut}},
		{"pcapng-epb_flags", bytes.Join([][]byte{ngSHB(), ngIDBFCS(0),
			ngEPB(0, withFCS, 64, 4<<5|1), ngEPB(0, frame, 60, 1)}, nil), []want{full, full}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFrames(writeFile(t, "fcs", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d frames, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				if !bytes.Equal(got[i].Data, w.data) || got[i].WireLen != w.wire {
					t.Errorf("frame %d: %d of %d bytes (% x), want %d of %d", i+1, len(got[i].Data), got[i].WireLen, got[i].Data, len(w.data), w.wire)
				}
			}
		})
	}
}
