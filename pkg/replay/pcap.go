package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// frameEpoch is the timestamp of the first written frame. Fixed timestamps
// make WriteFrames' output a pure function of the frames, so generated
// captures are byte-identical across runs and can be committed.
var frameEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Classic pcap's headers as WriteFrames writes them (libpcap's
// pcap-savefile(5)): a 24-byte file header, then 16 bytes before each frame.
const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
	pcapVersionMajor    = 2
	pcapVersionMinor    = 4
)

// WriteFrames writes frames to path as a classic pcap file: little-endian,
// microsecond timestamps, Ethernet link type. Frame i (0-based) is stamped
// frameEpoch + i milliseconds. The capture is encoded in memory first, so an
// encoding error leaves no partial file behind. It is written here, not
// through gopacket's pcapgo, so the CLI does not link gopacket's layers,
// whose package init costs every invocation about 17 ms.
func WriteFrames(path string, frames [][]byte) error {
	size := pcapFileHeaderLen
	for i, data := range frames {
		if len(data) > maxCaptureLen {
			return fmt.Errorf("%s: frame %d is %d bytes, more than %d", path, i+1, len(data), maxCaptureLen)
		}
		size += pcapRecordHeaderLen + len(data)
	}
	le := binary.LittleEndian
	buf := make([]byte, 0, size)
	buf = append(buf, magicPcapMicroLE...)
	buf = le.AppendUint16(buf, pcapVersionMajor)
	buf = le.AppendUint16(buf, pcapVersionMinor)
	buf = le.AppendUint32(buf, 0) // thiszone: timestamps are UTC
	buf = le.AppendUint32(buf, 0) // sigfigs
	buf = le.AppendUint32(buf, maxCaptureLen)
	buf = le.AppendUint32(buf, linkTypeEthernet)
	for i, data := range frames {
		ts := frameEpoch.Add(time.Duration(i) * time.Millisecond)
		buf = le.AppendUint32(buf, uint32(ts.Unix()))
		buf = le.AppendUint32(buf, uint32(ts.Nanosecond()/1000))
		buf = le.AppendUint32(buf, uint32(len(data)))
		buf = le.AppendUint32(buf, uint32(len(data)))
		buf = append(buf, data...)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}
