package serve

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logger writes one line per event (slog's text form: time, level,
// message, key=value pairs), and limits repetitive events: an event of a
// kind (its key) logged within the last interval is counted instead,
// and the count goes with the next line of that kind. A watch error loop
// or a failing scrape every few seconds then costs a line per interval.
type logger struct {
	*slog.Logger
	every time.Duration

	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int // events not logged since last[key]
}

func newLogger(w io.Writer, every time.Duration) *logger {
	return &logger{
		Logger: slog.New(slog.NewTextHandler(w, nil)),
		every:  every,
		last:   map[string]time.Time{},
		held:   map[string]int{},
	}
}

// limited logs a warning of kind key unless one was logged within the
// interval.
func (l *logger) limited(key, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		l.held[key]++
		l.mu.Unlock()
		return
	}
	if n := l.held[key]; n > 0 {
		args = append(args, "suppressed", fmt.Sprintf("%d more like this since %s", n, l.last[key].UTC().Format(time.RFC3339)))
	}
	l.last[key], l.held[key] = now, 0
	l.mu.Unlock()
	l.Warn(msg, args...)
}
