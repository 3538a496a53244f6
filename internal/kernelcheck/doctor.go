package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xdpfw/xdpfw/pkg/doctor"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// checkDoctor runs `xdpfw doctor --json` on the lab's interfaces, as an
// operator would before installing: on a kernel xdpfw runs on, every
// check passes and each veth is native-XDP capable with the program its
// MTU calls for; on one it does not (refusal), doctor exits non-zero and
// names the missing features, in seconds.
func checkDoctor(r *runner, x *xdpfw, supported bool, pairs ...pair) {
	r.check("doctor", func() (string, error) {
		args := []string{"doctor", "--json"}
		for _, p := range pairs {
			args = append(args, p.dev)
		}
		res := x.exec(refusalLimit, nil, args...)
		var rep doctor.Report
		if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
			return "", fmt.Errorf("%s: no report (%v): %s", commandLine(args), err, res.stderr)
		}
		var missing []string
		for _, f := range rep.Features {
			if f.Verdict != doctor.OK {
				missing = append(missing, f.Name)
			}
		}
		if !supported {
			if res.err == nil || rep.OK || len(missing) == 0 {
				return "", fmt.Errorf("doctor passed a kernel xdpfw refuses (exit error %v, missing %v)", res.err, missing)
			}
			return fmt.Sprintf("fails, missing %s, in %v", strings.Join(missing, ", "), res.elapsed.Round(time.Millisecond)), nil
		}
		if res.err != nil || !rep.OK || len(missing) > 0 {
			return "", fmt.Errorf("doctor failed on a supported kernel (missing %v): %v", missing, res.err)
		}
		for _, p := range pairs {
			i := slices.IndexFunc(rep.Interfaces, func(i doctor.Interface) bool { return i.Name == p.dev })
			if i < 0 {
				return "", fmt.Errorf("doctor does not list %s", p.dev)
			}
			got := rep.Interfaces[i]
			want := "xdpfw"
			if loader.NeedsFrags(p.mtu) {
				want = "xdpfw_frags"
			}
			if got.Driver != "veth" || got.NativeXDP != "yes" || got.Program != want {
				return "", fmt.Errorf("%s: driver %q, native XDP %q (%s), program %q; want veth, yes, %s",
					p.dev, got.Driver, got.NativeXDP, got.Source, got.Program, want)
			}
		}
		return fmt.Sprintf("%d interfaces, native XDP said by %s", len(pairs), rep.Interfaces[0].Source), nil
	})
}
