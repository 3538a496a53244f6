package serve

import (
	"time"

	"github.com/xdpfw/xdpfw/pkg/capture"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
)

// The log of rules with `log: true`: the datapath copies the frames they
// decide to its log ring (at most 1000 a second), and serve writes a line
// for each, the nftables `log` of xdpfw:
//
//	level=INFO msg=frame rule=7 action=drop iface=eth0 frame="tcp 203.0.113.9:41000 > 192.0.2.10:23" length=74
//
// The ring is read through handles of its own (loader.Ring), so reading
// holds no lock; a state created anew (detach --all, then apply) has a new
// ring, which logFrames finds by the pinned ring's id.

// ringCheck is how often logFrames looks for a new state or ring.
const ringCheck = 2 * time.Second

// logFrames writes a line per logged frame until stop closes.
func logFrames(dir string, log *logger, stop <-chan struct{}) {
	var (
		ring  *loader.Ring
		id    uint32
		names = capture.IfaceNames{}
	)
	defer func() {
		if ring != nil {
			ring.Close()
		}
	}()
	checked := time.Time{}
	for {
		select {
		case <-stop:
			return
		default:
		}
		if time.Since(checked) >= ringCheck {
			checked = time.Now()
			// The names are looked up again: kept for good, an
			// interface renamed (ip link set ... name) was logged
			// under its old name for as long as serve ran.
			names = capture.IfaceNames{}
			if now := loader.LogRingID(dir); now != id {
				if ring != nil {
					ring.Close()
					ring = nil
				}
				id = now
				if id != 0 {
					ring = openLog(dir, log)
				}
			}
		}
		if ring == nil {
			select {
			case <-stop:
				return
			case <-time.After(ringCheck):
			}
			continue
		}
		rec, ok, err := ring.Next(500 * time.Millisecond)
		if err != nil {
			log.limited("log-ring", "reading the log ring failed", "error", err)
			ring.Close()
			ring, id = nil, 0
			continue
		}
		if ok {
			p := model.Decode(rec.Data)
			log.Info("frame", "rule", rec.RuleID, "action", rec.Action, "iface", names.Of(rec.Ifindex),
				"frame", p.Summary(), "length", rec.Len)
		}
	}
}

func openLog(dir string, log *logger) *loader.Ring {
	s, err := loader.Open(dir)
	if err != nil {
		log.limited("log-open", "cannot read the log of rules with log: true", "error", err)
		return nil
	}
	defer s.Close()
	r, err := s.OpenLog()
	if err != nil {
		log.limited("log-open", "cannot read the log of rules with log: true", "error", err)
		return nil
	}
	return r
}
