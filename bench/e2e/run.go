package e2e

import (
	"fmt"
	"runtime"
	"time"

	"github.com/xdpfw/xdpfw/bench/gen"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// Options say how long to measure and where to run.
type Options struct {
	Seconds float64 // each receiver, per round
	Rounds  int
}

// Rate is one receiver's frames per second: what it processed (the
// receiving veth's rx counter) and what the generator offered, per round.
type Rate struct {
	Name       string    `json:"name"`
	Recv, Sent []float64 `json:"-"`
	RecvMedian float64   `json:"recv_fps"`
	RecvMin    float64   `json:"recv_fps_min"`
	RecvMax    float64   `json:"recv_fps_max"`
	SentMedian float64   `json:"sent_fps"`
}

// Over is r's rate as a multiple of o's: the median over the rounds of
// r's rate in a round divided by o's in the same round. Receivers take
// turns within a round, so the two rates of a round, measured seconds
// apart, share the machine's phase (see LineRoundTrip), where each one's
// median over all rounds may come from another phase.
func (r Rate) Over(o Rate) float64 {
	per := make([]float64, min(len(r.Recv), len(o.Recv)))
	for i := range per {
		per[i] = r.Recv[i] / o.Recv[i]
	}
	m, _, _ := perf.MedianRange(per)
	return m
}

// Batch is the frames per live-frames test run: large enough that the
// syscall costs nothing, small enough to stop close to the deadline.
const Batch = 1 << 16

// Bench is a lab with its generator.
type Bench struct {
	Lab       *Lab
	gen       *gen.Generator
	templates [][]byte
	Pinned    bool // generator and receiver on different CPUs
	// Looped: the frames circulate in a veth pair (loop.go) that sends
	// copies to the receiver, because the kernel refused live-frames test
	// runs (LiveRefused, its answer) or the Loop source was asked for.
	Looped        bool
	LiveRefused   error
	loopBackIndex int
}

// NewBench builds the lab and loads the generator for plan, sending as src
// says. With two CPUs or more the receiver's processing gets its own CPU
// (1) and the generator runs on CPU 0.
func NewBench(plan Plan, src Source) (b *Bench, err error) {
	b = &Bench{}
	if b.Lab, err = NewLab(); err != nil {
		return nil, err
	}
	if b.gen, err = gen.New(plan.Flows()); err != nil {
		b.Lab.Close()
		return nil, err
	}
	b.templates = plan.Templates(b.Lab.RecvMAC)
	if err := b.chooseSource(src); err != nil {
		b.Close()
		return nil, err
	}
	if runtime.NumCPU() >= 2 {
		if err := b.Lab.threadedNAPI(1); err != nil {
			b.Close()
			return nil, fmt.Errorf("threaded NAPI on the receiver: %w", err)
		}
		b.Pinned = true
	}
	return b, nil
}

// Close removes the lab and unloads the generator.
func (b *Bench) Close() {
	b.gen.Close()
	b.Lab.Close()
}

// Measure runs each receiver in turn, Rounds times, after one warm-up
// round that is not kept.
func (b *Bench) Measure(recvs []Receiver, opt Options) ([]Rate, error) {
	rates := make([]Rate, len(recvs))
	for round := -1; round < opt.Rounds; round++ {
		secs := opt.Seconds
		if round < 0 {
			secs = min(secs, 0.2)
		}
		for i, r := range recvs {
			recv, sent, err := b.one(r, secs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.Name, err)
			}
			if round >= 0 {
				rates[i].Recv = append(rates[i].Recv, recv)
				rates[i].Sent = append(rates[i].Sent, sent)
			}
		}
	}
	for i := range rates {
		rates[i].Name = recvs[i].Name
		rates[i].RecvMedian, rates[i].RecvMin, rates[i].RecvMax = perf.MedianRange(rates[i].Recv)
		rates[i].SentMedian, _, _ = perf.MedianRange(rates[i].Sent)
	}
	return rates, nil
}

// one sets r up, floods it for secs, and tears it down.
func (b *Bench) one(r Receiver, secs float64) (recv, sent float64, err error) {
	if err := r.Setup(b.Lab); err != nil {
		return 0, 0, fmt.Errorf("set up: %w", err)
	}
	defer func() {
		if e := r.Teardown(b.Lab); e != nil && err == nil {
			err = fmt.Errorf("tear down: %w", e)
		}
	}()
	before, err := b.Lab.rxPackets()
	if err != nil {
		return 0, 0, err
	}
	var n uint64
	var elapsed time.Duration
	err = perf.InNetns(b.Lab.genNS, func() error {
		if b.Pinned {
			if err := PinTo(0, 0); err != nil {
				return err
			}
		}
		if b.Looped {
			var err error
			n, elapsed, err = b.floodLoop(secs)
			return err
		}
		start := time.Now()
		deadline := start.Add(time.Duration(secs * float64(time.Second)))
		for i := 0; time.Now().Before(deadline); i++ {
			if err := b.gen.Send(b.templates[i%len(b.templates)], b.Lab.genIfindex, Batch); err != nil {
				return err
			}
			n += Batch
		}
		elapsed = time.Since(start)
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	// The receiver drains its ring: its count read until it stops
	// moving, 20 ms apart, for at most a second (a loaded machine may run
	// the receiving softirq late, and a first read then saw nothing).
	after := before
	for deadline := time.Now().Add(time.Second); ; {
		time.Sleep(20 * time.Millisecond)
		now, err := b.Lab.rxPackets()
		if err != nil {
			return 0, 0, err
		}
		settled := now == after && now != before
		after = now
		if settled || time.Now().After(deadline) {
			break
		}
	}
	return float64(after-before) / elapsed.Seconds(), float64(n) / elapsed.Seconds(), nil
}

// rxPackets is the receiving veth's count of frames it processed (frames
// its full ring refused are counted apart, as rx_dropped).
func (l *Lab) rxPackets() (uint64, error) {
	link, err := l.hr.LinkByName(l.recvIf)
	if err != nil {
		return 0, err
	}
	return link.Attrs().Statistics.RxPackets, nil
}
