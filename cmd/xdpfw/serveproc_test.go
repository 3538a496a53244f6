package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// buildXdpfw builds the real binary into a temporary directory.
func buildXdpfw(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "xdpfw")
	out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// Bounds on how long a test waits for the service, so a hang fails the
// test instead of stalling the suite; not expectations of speed.
const (
	serveLifetime = 4 * time.Minute
	serveWait     = time.Minute
)

// serveProc is `xdpfw serve` running as a child process, its log lines
// collected as they come. It is killed when the test ends, or after
// serveLifetime, whichever is first.
type serveProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit, once done is closed

	mu    sync.Mutex
	cond  *sync.Cond
	lines []string
	seen  int  // lines already matched by waitLog
	eof   bool // stderr closed
}

func startServe(t *testing.T, exe, pin, config string, extra ...string) *serveProc {
	t.Helper()
	return startProc(t, exe, append([]string{"--pin-dir", pin, "serve", "--config", config, "--metrics-listen", "127.0.0.1:0"}, extra...)...)
}

// startProc starts a command as a serveProc.
func startProc(t *testing.T, name string, args ...string) *serveProc {
	t.Helper()
	return startCmd(t, exec.Command(name, args...))
}

// startCmd starts cmd, made but not started, as a serveProc.
func startCmd(t *testing.T, cmd *exec.Cmd) *serveProc {
	t.Helper()
	p := &serveProc{t: t, cmd: cmd, done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.cond.Broadcast()
			p.mu.Unlock()
		}
		p.mu.Lock()
		p.eof = true
		p.cond.Broadcast()
		p.mu.Unlock()
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	kill := time.AfterFunc(serveLifetime, func() { p.cmd.Process.Kill() })
	t.Cleanup(func() {
		kill.Stop()
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("serve log:\n%s", strings.Join(p.log(), "\n"))
		}
	})
	return p
}

func (p *serveProc) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// waitLog waits for a log line after the last one matched that holds
// every one of want, and returns it.
func (p *serveProc) waitLog(want ...string) string {
	p.t.Helper()
	timer := time.AfterFunc(serveWait, func() {
		p.mu.Lock()
		p.eof = true // wakes the wait; the line is then missing
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for i := p.seen; i < len(p.lines); i++ {
			if holdsAll(p.lines[i], want) {
				p.seen = i + 1
				return p.lines[i]
			}
		}
		if p.eof {
			p.t.Fatalf("serve never logged a line with %q; its log:\n%s", want, strings.Join(p.lines, "\n"))
		}
		p.cond.Wait()
	}
}

func holdsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

var metricsURL = regexp.MustCompile(`url=(http://\S+/metrics)`)

// metricsAt waits for the line naming the metrics address.
func (p *serveProc) metricsAt() string {
	p.t.Helper()
	return metricsURL.FindStringSubmatch(p.waitLog("msg=metrics", "url=http://"))[1]
}

func (p *serveProc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// exit waits for the process to end and returns its exit code.
func (p *serveProc) exit() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(serveWait):
		p.t.Fatalf("serve did not exit")
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

// scrape fetches and parses the metrics.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	body, err := fetchMetrics(nil, url)
	if err != nil {
		t.Fatal(err)
	}
	return parseMetrics(t, url, body)
}

// fetchMetrics is the answer to GET url, through client (nil for the
// default one).
func fetchMetrics(client *http.Client, url string) (string, error) {
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// parseMetrics parses an exposition, and fails the test on a series
// given twice: the parser takes both, where Prometheus keeps one of the
// two and drops the other.
func parseMetrics(t *testing.T, url, body string) map[string]*dto.MetricFamily {
	t.Helper()
	seen, twice := map[string]bool{}, []string{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series := line[:max(strings.LastIndexByte(line, ' '), 0)]
		if seen[series] {
			twice = append(twice, series)
		}
		seen[series] = true
	}
	if len(twice) > 0 {
		t.Errorf("metrics of %s: series given twice: %s\n%s", url, strings.Join(twice, " "), body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("metrics of %s: %v", url, err)
	}
	return fams
}

// metricValues gives a family's values by their labels ("action=drop,comment=,id=1").
func metricValues(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	f := fams[name]
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		var labels []string
		for _, l := range m.Label {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		v := m.GetGauge().GetValue()
		if m.Counter != nil {
			v = m.Counter.GetValue()
		}
		out[strings.Join(labels, ",")] = v
	}
	return out
}

// replaceFile writes text to path the way editors do: a temporary file in
// the same directory, renamed over path.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := fmt.Sprintf("%s.tmp%d", path, time.Now().UnixNano())
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
