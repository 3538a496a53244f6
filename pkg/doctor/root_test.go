package doctor

import (
	"strings"
	"testing"
)

// TestRootFinding: the check passes whoever has the capabilities (root,
// or another user given them) and fails whoever lacks them, root in a
// container among them: it went by the uid alone.
func TestRootFinding(t *testing.T) {
	for _, tc := range []struct {
		name    string
		euid    int
		missing []string
		want    Verdict
		says    string
	}{
		{"root", 0, nil, OK, "running as root"},
		{"a user with the capabilities", 1000, nil, OK, "uid 1000 with the capabilities"},
		{"a user without", 1000, []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}, Fail, "without CAP_SYS_ADMIN and CAP_NET_ADMIN"},
		{"a user lacking one", 1000, []string{"CAP_NET_ADMIN"}, Fail, "not running as root and without CAP_NET_ADMIN"},
		{"root without them", 0, []string{"CAP_NET_ADMIN"}, Fail, "running as root without CAP_NET_ADMIN"},
	} {
		f := rootFinding(tc.euid, tc.missing)
		if f.Verdict != tc.want || !strings.Contains(f.Detail, tc.says) {
			t.Errorf("%s: %s %q, want %s saying %q", tc.name, f.Verdict, f.Detail, tc.want, tc.says)
		}
	}
}
