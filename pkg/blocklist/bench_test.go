package blocklist

import (
	"bytes"
	"fmt"
	"testing"
)

// millionLines is a blocklist of 1,000,000 entries shaped like the real
// ones: mostly IPv4 /24s and hosts in Spamhaus and FireHOL styles, one
// IPv6 entry in 20, a comment line in 100.
func millionLines() []byte {
	var b bytes.Buffer
	for i := range 1_000_000 {
		switch {
		case i%100 == 0:
			fmt.Fprintf(&b, "# block %d\n", i)
		case i%20 == 1:
			fmt.Fprintf(&b, "2001:db8:%x:%x::/64\n", i>>16, i&0xffff)
		case i%2 == 0:
			fmt.Fprintf(&b, "%d.%d.%d.0/24 ; SBL%d\n", 1+i>>16, (i>>8)&0xff, i&0xff, i)
		default:
			fmt.Fprintf(&b, "%d.%d.%d.%d\n", 1+i>>16, (i>>8)&0xff, i&0xff, i%251)
		}
	}
	return b.Bytes()
}

// BenchmarkParseMillion: one op parses a whole 1,000,000-line file.
func BenchmarkParseMillion(b *testing.B) {
	data := millionLines()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		set, err := Parse(bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(set.Prefixes) < 900_000 {
			b.Fatalf("only %d prefixes", len(set.Prefixes))
		}
	}
}
