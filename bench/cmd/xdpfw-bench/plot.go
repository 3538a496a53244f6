package main

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/xdpfw/xdpfw/bench/e2e"
)

// bpfilterPublished is bpfilter's per-packet cost against its rule count
// as published from its BPF_PROG_TEST_RUN benchmark in CI
// (github.com/facebook/bpfilter). Another machine and method: drawn for
// shape, not re-measured here.
var bpfilterPublished = plotter.XYs{{X: 1, Y: 94}, {X: 128, Y: 279}, {X: 2048, Y: 13700}}

const bpfilterCitation = "bpfilter: ~94 ns at 1 rule, 279 ns at 128, 13.7 µs at 2048, from bpfilter's published BPF_PROG_TEST_RUN benchmark in its CI (github.com/facebook/bpfilter); another machine and method, drawn for reference only"

// plotScale draws ns/packet against the rule count on log-log axes: xdpfw
// by both methods, the empty program, and bpfilter's published curve.
func plotScale(path string, pts []scalePoint) error {
	p := plot.New()
	p.Title.Text = "Per-packet cost vs rule count (BPF_PROG_TEST_RUN)"
	p.X.Label.Text = "rules"
	p.Y.Label.Text = "ns per packet"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true

	var rep, one, floor, floorOne plotter.XYs
	for _, s := range pts {
		rep = append(rep, plotter.XY{X: float64(s.Rules), Y: s.Ns})
		one = append(one, plotter.XY{X: float64(s.Rules), Y: s.StatsNs})
		floor = append(floor, plotter.XY{X: float64(s.Rules), Y: s.EmptyNs})
		floorOne = append(floorOne, plotter.XY{X: float64(s.Rules), Y: s.EmptyStats})
	}
	series := []struct {
		name string
		xys  plotter.XYs
		c    color.RGBA
		dash bool
	}{
		{"xdpfw (repeat per frame)", rep, color.RGBA{B: 200, A: 255}, false},
		{"xdpfw (1 run per frame, BPF stats)", one, color.RGBA{G: 140, A: 255}, false},
		{"empty program (repeat)", floor, color.RGBA{R: 120, G: 120, B: 120, A: 255}, true},
		{"empty program (1 run, BPF stats)", floorOne, color.RGBA{R: 180, G: 180, B: 180, A: 255}, true},
		{"bpfilter, published (CI, other machine)", bpfilterPublished, color.RGBA{R: 200, A: 255}, true},
	}
	for _, s := range series {
		l, sc, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return err
		}
		l.Color, sc.Color = s.c, s.c
		sc.Shape = draw.CircleGlyph{}
		if s.dash {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
	}
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

// plotRates draws the end-to-end frames per second of each receiver as
// bars, with the rounds' range as error bars.
func plotRates(path string, rates []e2e.Rate) error {
	p := plot.New()
	p.Title.Text = "End to end: frames/s received through a veth (every frame dropped)"
	p.Y.Label.Text = "million frames per second"
	vals := make(plotter.Values, len(rates))
	names := make([]string, len(rates))
	errs := make(plotter.YErrors, len(rates))
	for i, r := range rates {
		vals[i] = r.RecvMedian / 1e6
		names[i] = r.Name
		errs[i] = struct{ Low, High float64 }{(r.RecvMedian - r.RecvMin) / 1e6, (r.RecvMax - r.RecvMedian) / 1e6}
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(40))
	if err != nil {
		return err
	}
	bars.Color = color.RGBA{B: 200, A: 255}
	p.Add(bars)
	eb, err := plotter.NewYErrorBars(struct {
		plotter.XYer
		plotter.YErrorer
	}{barXYs(vals), errs})
	if err != nil {
		return err
	}
	p.Add(eb)
	p.NominalX(names...)
	return p.Save(10*vg.Inch, 5*vg.Inch, path)
}

// barXYs places values at the bar chart's x positions 0, 1, 2...
func barXYs(v plotter.Values) plotter.XYs {
	xys := make(plotter.XYs, len(v))
	for i, y := range v {
		xys[i] = plotter.XY{X: float64(i), Y: y}
	}
	return xys
}
