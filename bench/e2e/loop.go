package e2e

import (
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/perf"
)

// Where the kernel refuses live-frames test runs, the generator's frames
// circulate in a veth pair of their own in the generating namespace
// (gen.c): the loop program on one end sends each frame back round the
// pair and LoopCopies rewritten copies of it to the receiver. A few
// frames put into the pair through a packet socket keep it going.
const (
	loopIn, loopBack = "bloopa", "bloopb"
	// LoopCopies per round: the loop's own work (a pass through the
	// pair's NAPI) spread over that many frames to the receiver, each
	// rewritten into a flow of its own as the live-frames generator does.
	LoopCopies = 8
	// LoopFrames put into the pair: well under a veth ring (256), so
	// nothing overflows and the loop keeps them all.
	LoopFrames = 32
)

// loopRoute builds the loop's pair in the generating namespace, attaches
// the loop program and points it at the receiver.
func (b *Bench) loopRoute() error {
	hg, err := netlink.NewHandleAt(b.Lab.genNS)
	if err != nil {
		return err
	}
	defer hg.Close()
	if err := hg.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: loopIn}, PeerName: loopBack}); err != nil {
		return fmt.Errorf("create the loop's veth: %w", err)
	}
	in, err := hg.LinkByName(loopIn)
	if err != nil {
		return err
	}
	back, err := hg.LinkByName(loopBack)
	if err != nil {
		return err
	}
	for _, l := range []netlink.Link{in, back} {
		if err := hg.LinkSetUp(l); err != nil {
			return fmt.Errorf("set the loop's veth up: %w", err)
		}
	}
	// netlink.Handle cannot attach XDP, so the attach runs in the namespace.
	if err := perf.InNetns(b.Lab.genNS, func() error {
		return netlink.LinkSetXdpFdWithFlags(in, b.gen.LoopProgram().FD(), unix.XDP_FLAGS_DRV_MODE)
	}); err != nil {
		return fmt.Errorf("attach the loop program: %w", err)
	}
	b.loopBackIndex = back.Attrs().Index
	// A devmap finds its interfaces in the namespace of the thread that
	// writes it.
	return perf.InNetns(b.Lab.genNS, func() error {
		return b.gen.Route(back.Attrs().Index, b.Lab.genIfindex, LoopCopies)
	})
}

// floodLoop runs the loop for secs: it puts frames into the pair (from
// the calling thread, which is in the generating namespace and decides
// the CPU the pair's processing runs on), waits, and stops it. It
// returns the frames sent to the receiver.
func (b *Bench) floodLoop(secs float64) (uint64, time.Duration, error) {
	if err := b.gen.SetStop(false); err != nil {
		return 0, 0, err
	}
	before, err := b.gen.Sent()
	if err != nil {
		return 0, 0, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: b.loopBackIndex, Halen: 6}
	start := time.Now()
	for i := range LoopFrames {
		if err := unix.Sendto(fd, b.templates[i%len(b.templates)], 0, to); err != nil {
			return 0, 0, fmt.Errorf("start the loop: %w", err)
		}
	}
	time.Sleep(time.Duration(secs * float64(time.Second)))
	stopErr := b.gen.SetStop(true)
	elapsed := time.Since(start)
	after, err := b.gen.Sent()
	if err := firstErr(stopErr, err); err != nil {
		return 0, 0, err
	}
	// Frames still in the pair meet the stop on their next pass.
	time.Sleep(10 * time.Millisecond)
	return after - before, elapsed, nil
}

// ErrLiveRefused is NewBench's error when it was asked for live frames
// and the kernel refuses them.
var ErrLiveRefused = errors.New("this kernel refuses live-frames test runs")

// chooseSource sets the loop up where src asks for it, or where it allows
// either and the kernel refuses live-frames test runs (EPERM on some
// builds; EINVAL before Linux 5.18 had them): one frame sent to the
// receiver finds out.
func (b *Bench) chooseSource(src Source) error {
	if src != Loop {
		err := perf.InNetns(b.Lab.genNS, func() error {
			return b.gen.Send(b.templates[0], b.Lab.genIfindex, 1)
		})
		refused := errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL)
		if !refused {
			return err
		}
		if src == LiveFrames {
			return fmt.Errorf("%w (%v): -generator loop or auto sends without them", ErrLiveRefused, err)
		}
		b.LiveRefused = err
	}
	b.Looped = true
	return b.loopRoute()
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
