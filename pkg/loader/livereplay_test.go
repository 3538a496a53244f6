package loader

import (
	"sync/atomic"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// liveReplay runs frames through an instance over and over in the
// background while a test changes the live state, and records for each
// run the versions of the state that may have been live during it: the
// test calls changing before each change and changed after it.
type liveReplay struct {
	frames  [][]byte
	lo, hi  atomic.Int64 // versions possibly live
	stop    atomic.Bool
	done    chan struct{}
	records []liveRun
	err     error
}

type liveRun struct {
	frame    int
	got      model.Verdict
	from, to int64
}

func startLiveReplay(tr *Instance, frames [][]byte) *liveReplay {
	return startFocusedReplay(tr, frames, nil)
}

// startFocusedReplay is startLiveReplay where every other run is of a
// frame in focus[k] (indexes into frames), k the newest version that may
// be live: the frames that would show that change cut in two run many
// times while it is made, not once in a pass over all frames.
func startFocusedReplay(tr *Instance, frames [][]byte, focus [][]int) *liveReplay {
	r := &liveReplay{frames: frames, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		next := 0 // in the pass over all frames
		for i := 0; !r.stop.Load(); i++ {
			from := r.lo.Load()
			var f int
			if k := r.hi.Load(); i%2 == 1 && k < int64(len(focus)) && len(focus[k]) > 0 {
				f = focus[k][i/2%len(focus[k])]
			} else {
				f, next = next, (next+1)%len(frames)
			}
			got, err := tr.Run(frames[f])
			if err != nil {
				r.err = err
				return
			}
			r.records = append(r.records, liveRun{f, got, from, r.hi.Load()})
		}
	}()
	return r
}

func (r *liveReplay) changing() { r.hi.Add(1) } // the next version may be live from here on
func (r *liveReplay) changed()  { r.lo.Add(1) } // the old one can no longer be seen by a new run

func (r *liveReplay) finish() error {
	r.stop.Store(true)
	<-r.done
	return r.err
}

// check compares every run with the model under each version that may
// have been live during it (history[k] is version k): one must agree.
func (r *liveReplay) check(t *testing.T, history []*rules.Ruleset) {
	t.Helper()
	type key struct {
		version int64
		frame   int
	}
	expected := map[key]model.Verdict{}
	bad := 0
	for _, run := range r.records {
		ok := false
		for k := run.from; k <= run.to && !ok; k++ {
			want, seen := expected[key{k, run.frame}]
			if !seen {
				want = model.Evaluate(history[k], r.frames[run.frame])
				expected[key{k, run.frame}] = want
			}
			ok = want == run.got
		}
		if !ok {
			if bad++; bad <= 10 {
				t.Errorf("frame %d: verdict %+v matches no version live in %d..%d", run.frame, run.got, run.from, run.to)
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d runs in all match no version live during them", bad)
	}
	if len(r.records) < 100 {
		t.Errorf("only %d frames ran during the changes; the test proved little", len(r.records))
	}
	t.Logf("%d frames checked across %d versions", len(r.records), len(history))
}
