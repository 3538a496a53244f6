package serve

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// The Prometheus text exposition format (version 0.0.4), written by hand:
// a scrape's metrics are a few dozen families of constant samples, and
// the client library, with the protobuf runtime it brings, cost every
// CLI command (all link this package) some milliseconds of package
// initialisation at start for nothing the format needs.

// contentType is what /metrics answers with.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// metric is a family: its name, help, kind ("counter" or "gauge") and
// the names of its labels, as its samples give their values; written in
// the order of their names (byName), as the client library did.
type metric struct {
	name, help, kind string
	labels           []string
	byName           []int
}

func gaugeOf(name, help string, labels ...string) *metric {
	return newMetric(name, help, "gauge", labels)
}

func counterOf(name, help string, labels ...string) *metric {
	return newMetric(name, help, "counter", labels)
}

func newMetric(name, help, kind string, labels []string) *metric {
	m := &metric{name: name, help: help, kind: kind, labels: labels, byName: make([]int, len(labels))}
	for i := range m.byName {
		m.byName[i] = i
	}
	slices.SortFunc(m.byName, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	return m
}

// exposition collects a scrape's samples by family, so each family's
// come out together, as the format requires; families by name and each
// one's samples by their text, so two scrapes of the same state read the
// same.
type exposition struct {
	order   []*metric
	samples map[*metric][]string
}

// add records one sample of m: its label values (as many as m has label
// names) and its value. Another number of values is this package's bug.
func (e *exposition) add(m *metric, v float64, values ...string) {
	if len(values) != len(m.labels) {
		panic(fmt.Sprintf("metric %s: %d label values for labels %v", m.name, len(values), m.labels))
	}
	if e.samples == nil {
		e.samples = map[*metric][]string{}
	}
	if _, ok := e.samples[m]; !ok {
		e.order = append(e.order, m)
	}
	var b strings.Builder
	b.WriteString(m.name)
	if len(m.labels) > 0 {
		b.WriteByte('{')
		for n, i := range m.byName {
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString(m.labels[i])
			b.WriteString(`="`)
			b.WriteString(labelValue.Replace(strings.ToValidUTF8(values[i], "\uFFFD")))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	b.WriteByte('\n')
	e.samples[m] = append(e.samples[m], b.String())
}

// labelValue and helpText escape as the format asks: a label value's
// backslashes, double quotes and line feeds; help's backslashes and line
// feeds.
var (
	labelValue = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpText   = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// writeTo writes every family with samples, HELP and TYPE first.
func (e *exposition) writeTo(w io.Writer) error {
	var b strings.Builder
	slices.SortFunc(e.order, func(x, y *metric) int { return strings.Compare(x.name, y.name) })
	for _, m := range e.order {
		slices.Sort(e.samples[m])
		b.WriteString("# HELP " + m.name + " " + helpText.Replace(m.help) + "\n")
		b.WriteString("# TYPE " + m.name + " " + m.kind + "\n")
		for _, s := range e.samples[m] {
			b.WriteString(s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
