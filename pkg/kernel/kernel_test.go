package kernel

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
)

func need(name string, since Version, err error) Requirement {
	return Requirement{Name: name, Since: since, probe: func() error { return err }}
}

// TestRefusalNamesWhatIsMissing feeds probe results a 5.10 kernel gives
// through Check: the refusal is the one line the CLI prints.
func TestRefusalNamesWhatIsMissing(t *testing.T) {
	notSupported := fmt.Errorf("probe: %w", ebpf.ErrNotSupported)
	r := Check("5.10.0-35-amd64", []Requirement{
		need("XDP programs", Version{4, 8}, nil),
		need("LPM trie maps", Version{4, 11}, nil),
		need("bpf_xdp_get_buff_len", Version{5, 18}, notSupported),
		need("xdp.frags programs", Version{5, 18}, notSupported),
		need("array-of-maps maps", Version{4, 12}, errors.New("operation not permitted")),
	})
	if r.Version != (Version{5, 10}) {
		t.Errorf("version %v, want 5.10", r.Version)
	}
	if got := r.Results[4].Status; got != Unknown {
		t.Errorf("an inconclusive probe is %s, want unknown", got)
	}
	err := r.Err()
	want := "kernel 5.10.0-35-amd64 cannot run xdpfw: missing bpf_xdp_get_buff_len, xdp.frags programs (need Linux 5.18 or later; tested on 6.1, 6.12, 6.18)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if !errors.Is(err, ebpf.ErrNotSupported) {
		t.Error("a refusal is not errors.Is ErrNotSupported")
	}
}

// TestNothingMissingIsNoRefusal: unknown results alone do not refuse (the
// load then says what is wrong, if anything).
func TestNothingMissingIsNoRefusal(t *testing.T) {
	r := Check("6.1.0-35-amd64", []Requirement{
		need("XDP programs", Version{4, 8}, nil),
		need("hash maps", Version{3, 19}, errors.New("operation not permitted")),
	})
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if m := r.Minimum(); m != (Version{4, 8}) {
		t.Errorf("minimum %v, want 4.8", m)
	}
}

func TestParseRelease(t *testing.T) {
	for release, want := range map[string]Version{
		"6.1.0-35-amd64": {6, 1}, "5.10.0-35-cloud-amd64": {5, 10},
		"6.18.44-fc-v1098": {6, 18}, "6.18-rc1": {6, 18}, "6.12": {6, 12},
	} {
		if got, err := ParseRelease(release); err != nil || got != want {
			t.Errorf("ParseRelease(%q) = %v, %v; want %v", release, got, err, want)
		}
	}
	if _, err := ParseRelease("linux"); err == nil {
		t.Error(`ParseRelease("linux") succeeded`)
	}
}

func TestHelperName(t *testing.T) {
	for fn, want := range map[string]string{
		"FnXdpGetBuffLen": "bpf_xdp_get_buff_len", "FnMapLookupElem": "bpf_map_lookup_elem",
		"FnGetPrandomU32": "bpf_get_prandom_u32",
	} {
		if got := snake(fn); got != want {
			t.Errorf("%s: %s, want %s", fn, got, want)
		}
	}
}

func TestVersionJSONRoundTrip(t *testing.T) {
	for _, v := range []Version{{6, 1}, {5, 18}, {}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var got Version
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if got != v {
			t.Errorf("%s read back as %v, want %v", b, got, v)
		}
	}
}
