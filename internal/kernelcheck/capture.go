package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/xdpfw/xdpfw/pkg/replay"
)

// maxCaptured is how many dropped frames the capture check sends.
const maxCaptured = 20

// checkCapture: on this kernel, `xdpfw capture` of the drops on the
// native veth (a ring buffer, bpf_xdp_load_bytes) writes exactly the
// dropped frames sent, in order, and stops.
func checkCapture(r *runner, x *xdpfw, p pair, pcaps []string, rep *replay.Report) {
	r.check("capture", func() (string, error) {
		drops, err := droppedFrames(pcaps, rep)
		if err != nil {
			return "", err
		}
		out := filepath.Join(os.TempDir(), "xdpfw-capture.pcapng")
		cmd := exec.Command(x.bin, "--pin-dir", x.pinDir, "capture", "-c", strconv.Itoa(len(drops)), "-w", out)
		if err := cmd.Start(); err != nil {
			return "", err
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if !poll(20*time.Second, func() bool {
			st, err := x.status()
			return err == nil && st.Capture != nil && st.Capture.Running
		}) {
			cmd.Process.Kill()
			<-done
			return "", errors.New("the capture did not start")
		}
		s, err := newSender(p.peer)
		if err != nil {
			return "", err
		}
		defer s.close()
		for _, f := range drops {
			if _, err := s.send(f); err != nil {
				return "", err
			}
		}
		select {
		case err := <-done:
			if err != nil {
				return "", fmt.Errorf("capture: %w", err)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			return "", errors.New("the capture did not end")
		}
		got, err := readPcapng(out)
		if err != nil {
			return "", err
		}
		if len(got) != len(drops) {
			return "", fmt.Errorf("%d frames captured, %d dropped frames sent", len(got), len(drops))
		}
		for i := range drops {
			if string(got[i]) != string(drops[i]) {
				return "", fmt.Errorf("captured frame %d differs from the frame sent", i+1)
			}
		}
		return fmt.Sprintf("%d dropped frames captured as sent", len(drops)), nil
	})
}

// droppedFrames are up to maxCaptured frames the replay dropped that a
// 1500-MTU veth sends whole.
func droppedFrames(pcaps []string, rep *replay.Report) ([][]byte, error) {
	results := byFrame(rep)
	var out [][]byte
	for _, pcap := range pcaps {
		frames, err := replay.ReadFrames(pcap)
		if err != nil {
			return nil, err
		}
		for _, f := range frames {
			if res, ok := results[frameKey{pcap, f.Index}]; ok && res.Verdict == "drop" && len(f.Data) >= 60 && len(f.Data) <= 1514 && len(out) < maxCaptured {
				out = append(out, f.Data)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no dropped frame to capture")
	}
	return out, nil
}

func readPcapng(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, data)
	}
}
