package replay

import (
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Sample names one frame by its file and number, with its flow: enough
// for an operator to find it in the capture and to see what it is.
type Sample struct {
	File  string `json:"file"`
	Index int    `json:"frame"`
	// Flow is the frame in one line, as tcpdump would sum it up:
	// "tcp 192.0.2.1:1234 > 198.51.100.2:22".
	Flow string `json:"flow"`
	// The same, field by field. Proto is a name or a number ("47"), empty
	// for a frame that is not IP, as are Src and Dst; the ports are null
	// when the frame has none (not TCP or UDP, or a later fragment).
	Proto string  `json:"proto"`
	Src   string  `json:"src"`
	Dst   string  `json:"dst"`
	Sport *uint16 `json:"sport"`
	Dport *uint16 `json:"dport"`
}

// newSample describes frame index of file, decoded as p.
func newSample(file string, index int, p *model.Packet) Sample {
	s := Sample{File: file, Index: index, Flow: p.Summary()}
	if p.Malformed || !p.HasProto {
		return s
	}
	s.Proto = rules.Proto{Set: true, Num: p.Proto}.String()
	s.Src, s.Dst = p.Src.String(), p.Dst.String()
	if p.HasPorts {
		sport, dport := p.Sport, p.Dport
		s.Sport, s.Dport = &sport, &dport
	}
	return s
}
