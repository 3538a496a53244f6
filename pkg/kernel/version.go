// Package kernel finds out, before anything is loaded, whether the running
// kernel has every BPF feature an object needs, so an old kernel is refused
// in one line instead of failing half-way through a load.
package kernel

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Version is a kernel release's major and minor number: features arrive
// in minor releases, and distributions' patch levels say nothing reliable.
type Version struct{ Major, Minor int }

// Tested are the kernels xdpfw's whole test suite has passed on: Debian
// 12's (6.1) and the newer ones it is developed on. The one list every
// message and `xdpfw doctor` quote.
var Tested = []Version{{6, 1}, {6, 12}, {6, 18}}

func (v Version) String() string {
	if v == (Version{}) {
		return "?"
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}

// MarshalText makes a Version "6.1" in JSON.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads what MarshalText wrote, so a program reading
// `xdpfw doctor --json` can decode it into the same types; "?" is the
// zero Version.
func (v *Version) UnmarshalText(b []byte) error {
	if string(b) == "?" {
		*v = Version{}
		return nil
	}
	p, err := ParseRelease(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Less orders versions.
func (v Version) Less(o Version) bool {
	return v.Major < o.Major || v.Major == o.Major && v.Minor < o.Minor
}

// IsTested reports whether v is one of the Tested kernels.
func (v Version) IsTested() bool {
	for _, t := range Tested {
		if t == v {
			return true
		}
	}
	return false
}

// TestedList is Tested as prose: "6.1, 6.12, 6.18".
func TestedList() string {
	s := make([]string, len(Tested))
	for i, v := range Tested {
		s[i] = v.String()
	}
	return strings.Join(s, ", ")
}

// ParseRelease reads the version from a release string as uname gives it
// ("6.1.0-35-amd64", "5.10.0-35-cloud-amd64").
func ParseRelease(release string) (Version, error) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("kernel release %q is not MAJOR.MINOR...", release)
	}
	major, err1 := strconv.Atoi(parts[0])
	// "6.18-rc1": the minor number is the digits before any suffix.
	digits := strings.IndexFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	if digits < 0 {
		digits = len(parts[1])
	}
	minor, err2 := strconv.Atoi(parts[1][:digits])
	if err1 != nil || err2 != nil {
		return Version{}, fmt.Errorf("kernel release %q is not MAJOR.MINOR...", release)
	}
	return Version{major, minor}, nil
}

// Release is the running kernel's release, as `uname -r` prints it.
func Release() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}
