package serve

import (
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestExposition: families come out in name order, samples of a family
// given apart together, their
// labels in name order, and
// label values and help that need escaping (quotes, backslashes, line
// feeds, bytes that are not UTF-8) parse back with Prometheus' own parser
// as what was given.
func TestExposition(t *testing.T) {
	rules := counterOf("x_rule_packets_total", "Frames\nby \\rule.", "id", "comment")
	up := gaugeOf("x_up", "Up.")
	var e exposition
	e.add(up, 1) // first, though its name sorts after the other's
	e.add(rules, 3, "1", `say "hi" \ there`+"\nnext")
	e.add(rules, 12345678901234, "2", "bad \xff byte")
	var out strings.Builder
	if err := e.writeTo(&out); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(out.String()))
	if err != nil {
		t.Fatalf("%v in:\n%s", err, out.String())
	}
	f := fams["x_rule_packets_total"]
	if f == nil || f.GetType().String() != "COUNTER" || f.GetHelp() != "Frames\nby \\rule." || len(f.Metric) != 2 {
		t.Fatalf("family %v in:\n%s", f, out.String())
	}
	want := map[string]float64{"1|say \"hi\" \\ there\nnext": 3, "2|bad \uFFFD byte": 12345678901234}
	for _, m := range f.Metric {
		// Labels by name: comment, then id.
		key := m.Label[1].GetValue() + "|" + m.Label[0].GetValue()
		if v, ok := want[key]; !ok || m.GetCounter().GetValue() != v {
			t.Errorf("sample %q = %v, want one of %v", key, m.GetCounter().GetValue(), want)
		}
	}
	if g := fams["x_up"]; g == nil || g.GetType().String() != "GAUGE" || g.Metric[0].GetGauge().GetValue() != 1 {
		t.Errorf("x_up: %v", g)
	}
	if strings.Index(out.String(), "x_rule_packets_total{") > strings.Index(out.String(), "x_up ") {
		t.Errorf("families not in name order:\n%s", out.String())
	}
}
