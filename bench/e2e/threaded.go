package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// threadedNAPI moves the receiving veth's packet processing from the
// sender's softirq into a kernel thread of its own, and pins that thread
// to cpu: otherwise the veth processes each frame on the generator's CPU,
// and the figure is the sum of both costs. Sysfs shows the interfaces of
// the namespace that mounted it, hence a private mount of it.
func (l *Lab) threadedNAPI(cpu int) error {
	if err := l.Exec(nil, "unshare", "--mount", "sh", "-c",
		"mount -t sysfs sysfs /sys && echo 1 > /sys/class/net/"+l.recvIf+"/threaded"); err != nil {
		return err
	}
	// The thread is "napi/<ifname>-<napi id>", cut to 15 characters; the
	// interface's name is unique to this lab, which is enough.
	prefix := "napi/" + l.recvIf + "-"
	prefix = prefix[:min(len(prefix), 15)]
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err != nil || !strings.HasPrefix(string(b), prefix) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
		return PinTo(pid, cpu)
	}
	return fmt.Errorf("no kernel thread %q*", prefix)
}
