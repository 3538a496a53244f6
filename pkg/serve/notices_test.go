package serve

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// TestLockWaitNoticeOwnProcess: a wait for the pin directory's lock that
// this process holds (a scrape or a sweep waiting while a reload applies,
// which resizing the conntrack tables or growing the maps makes last
// past the notice's grace) is no news; one that another process holds
// is. Serve logged the first as a warning naming its own pid, which
// read as serve waiting for itself.
func TestLockWaitNoticeOwnProcess(t *testing.T) {
	saved := []any{loader.LockWaitNotice, loader.MigrateNotice, loader.GrowNotice, loader.LeftNotice, loader.CTResizeNotice, loader.CTSeedNotice}
	t.Cleanup(func() {
		loader.LockWaitNotice = saved[0].(func(string, string))
		loader.MigrateNotice = saved[1].(func(string, int, int, loader.Reach))
		loader.GrowNotice = saved[2].(func(string, loader.Growth))
		loader.LeftNotice = saved[3].(func(string, string, uint32))
		loader.CTResizeNotice = saved[4].(func(string, uint32, uint32, int, loader.Reach))
		loader.CTSeedNotice = saved[5].(func(string, int))
	})
	var out syncBuffer
	logNotices(newLogger(&out, time.Nanosecond))
	own := os.Getpid()
	for _, holder := range []string{
		fmt.Sprintf("pid %d (xdpfw serve --config /etc/xdpfw/xdpfw.yaml)", own),
		fmt.Sprintf("pid %d", own),
	} {
		loader.LockWaitNotice("/sys/fs/bpf/xdpfw", holder)
		time.Sleep(time.Millisecond)
	}
	if s := out.String(); s != "" {
		t.Errorf("waiting for this process's own hold, serve logged:\n%s", s)
	}
	other := fmt.Sprintf("pid %d1 (xdpfw set load feed -)", own)
	loader.LockWaitNotice("/sys/fs/bpf/xdpfw", other)
	if s := out.String(); !strings.Contains(s, "waiting for the pin directory's lock") || !strings.Contains(s, other) {
		t.Errorf("waiting for %s, serve logged:\n%s", other, s)
	}
}
