package replay

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// frameEpoch is the timestamp of the first written frame. Fixed timestamps
// make WriteFrames' output a pure function of the frames, so generated
// captures are byte-identical across runs and can be committed.
var frameEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteFrames writes frames to path as a classic pcap file: little-endian,
// microsecond timestamps, Ethernet link type. Frame i (0-based) is stamped
// frameEpoch + i milliseconds. The capture is encoded in memory first, so an
// encoding error leaves no partial file behind.
func WriteFrames(path string, frames [][]byte) error {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(maxCaptureLen, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	for i, data := range frames {
		if len(data) > maxCaptureLen {
			return fmt.Errorf("%s: frame %d is %d bytes, more than %d", path, i+1, len(data), maxCaptureLen)
		}
		ci := gopacket.CaptureInfo{
			Timestamp:     frameEpoch.Add(time.Duration(i) * time.Millisecond),
			CaptureLength: len(data),
			Length:        len(data),
		}
		if err := w.WritePacket(ci, data); err != nil {
			return fmt.Errorf("%s: frame %d: %v", path, i+1, err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}
