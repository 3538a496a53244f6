package serve

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestReloadBusyConfigRetryOnce: a config written to without a pause
// longer than the settle fails every retry the same way, and is logged
// once: the failure named how long it had waited, which varied by the
// millisecond, so every retry was news.
func TestReloadBusyConfigRetryOnce(t *testing.T) {
	privtest.Require(t)
	pin, dir := privtest.PinDir(t), t.TempDir()
	conf := filepath.Join(dir, "xdpfw.yaml")
	if err := os.WriteFile(conf, []byte("policy: pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &reloader{dir: pin, path: conf, log: newLogger(&out, time.Minute)}
	r.reload("start", true)
	stop, stopped := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-stopped }()
	go func() {
		defer close(stopped)
		f, err := os.OpenFile(conf, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for {
			select {
			case <-stop:
				return
			case <-time.After(7 * time.Millisecond):
				f.WriteString("#\n")
			}
		}
	}()
	time.Sleep(settle / 4) // written to by then
	for range 3 {
		r.reload(triggerRetry, true)
	}
	if st, n := r.current(), strings.Count(out.String(), "config not applied"); st.failures != 3 || n != 1 {
		t.Errorf("three retries of a config being written: %d failed (want 3), %d logged (want 1):\n%s", st.failures, n, out.String())
	}
}
