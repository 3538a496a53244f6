// Package serve is `xdpfw serve`: a long-running service that keeps the
// live state in a pin directory equal to a config file (a ruleset file,
// with the interfaces to attach to), reloads it when it changes or on
// SIGHUP, keeps the last good ruleset when it is bad, and serves
// Prometheus metrics read from the maps at scrape time.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// Config is how the service runs.
type Config struct {
	PinDir     string // the state it keeps
	ConfigFile string // the ruleset file it applies
	// MetricsListen is the address of the metrics server (host:port; port
	// 0 picks one, which the log names); "" serves no metrics.
	MetricsListen string
	// DetachOnExit removes the state (detach --all) when the service
	// stops; otherwise the firewall keeps enforcing without it.
	DetachOnExit bool
	// MaxSize bounds the config file in bytes (0: input.MaxRuleset) and
	// raises each set file's limit to it when it is more, as apply's
	// --max-size does: save writes a set of a few million elements past
	// the default.
	MaxSize int64
	// AllowDefaultRoute takes 0.0.0.0/0 and ::/0 in a set's file:, as
	// apply's --allow-default-route does: without it such a file is
	// refused, and the error names the flag.
	AllowDefaultRoute bool
	Log               io.Writer // the log lines; os.Stderr when nil
}

// logEvery is how often a repetitive event may be logged.
const logEvery = 10 * time.Second

// Run applies the config file and keeps it applied until ctx ends or the
// process gets SIGTERM or SIGINT, sweeping the conntrack table's
// timed-out flows meanwhile (sweepConntrack); SIGHUP re-applies the file, and so
// does a retry every retryEvery while the last attempt failed, the
// close of the file by a writer the last attempt waited out
// (writerDone), and a change of a set file it names, once quiet for
// setPollEvery. Under systemd (NOTIFY_SOCKET) it says READY=1 once the
// file's first application has been tried, and STOPPING=1 when it
// stops. It fails only when it cannot start (the metrics address is
// malformed, the config's directory cannot be watched) or when
// --detach-on-exit cannot remove the state; a bad config file is logged
// and waited out, and so is a metrics address that cannot be listened
// on yet.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	path, err := filepath.Abs(cfg.ConfigFile)
	if err != nil {
		return fmt.Errorf("config %s: %w", cfg.ConfigFile, err)
	}
	claim, err := claimPinDir(cfg.PinDir)
	if err != nil {
		return err
	}
	defer claim.Close()
	log := newLogger(cfg.Log, logEvery)
	logNotices(log)
	if err := procBlind("/proc"); err != nil {
		log.Warn("cannot see which processes hold the config or a set file open for writing, so a file written in place may be read half written: write it aside and rename it over (seeing them takes CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH and a /proc without hidepid)", "error", err)
	}
	// A stop (SIGTERM, SIGINT) ends the run's context as it comes, not
	// when the loop next looks: a reload waiting for the state's lock,
	// which another command may hold for long, gives up then, changing
	// nothing, where it had kept systemd waiting until it killed serve.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	hup := make(chan struct{}, 1)
	stopped := make(chan os.Signal, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-sigs:
				if sig != syscall.SIGHUP {
					stopped <- sig
					cancel()
					return
				}
				select {
				case hup <- struct{}{}:
				default: // one is pending: it reads the file as it will be
				}
			}
		}
	}()
	r := &reloader{ctx: ctx, dir: cfg.PinDir, path: path, maxSize: cfg.MaxSize, allowDefaultRoute: cfg.AllowDefaultRoute, log: log}

	stop := make(chan struct{})
	defer close(stop)
	changed, err := watchDir(path, log, stop)
	if err != nil {
		return err
	}
	if cfg.MetricsListen != "" {
		if err := serveMetrics(cfg.MetricsListen, &collector{dir: cfg.PinDir, reload: r, log: log}, log, stop); err != nil {
			return err
		}
	}
	added := watchLinks(r.lists, log, stop)
	log.Info("serving", "config", path, "pin_dir", cfg.PinDir, "pid", os.Getpid())
	r.reload("start", true)
	notify(log, "READY=1")
	go logFrames(cfg.PinDir, log, stop)
	go sweepConntrack(ctx, cfg.PinDir, log)

	retry := time.NewTicker(retryEvery)
	defer retry.Stop()
	poll := time.NewTicker(setPollEvery)
	defer poll.Stop()
	recheck := time.NewTicker(writerRecheck)
	defer recheck.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-retry.C:
			if r.failing() {
				r.reload(triggerRetry, true)
			}
		case <-recheck.C:
			if r.writerDone() {
				r.reload(triggerClosed, true)
			}
		case <-poll.C:
			if r.sets.settled() {
				r.reload(triggerSetFile, true)
			}
		case <-hup:
			r.reload("SIGHUP", true)
		case <-changed:
			r.reload("file changed", false)
		case name := <-added:
			r.reload(triggerLink(name), true)
		}
	}
	select {
	case sig := <-stopped:
		log.Info("stopping", "signal", sig.String())
	default:
	}
	notify(log, "STOPPING=1")
	return exit(ctx, cfg, log)
}

// exit leaves the firewall enforcing, or removes it with DetachOnExit.
// Its look at the state does not wait for the lock: ctx has ended.
func exit(ctx context.Context, cfg Config, log *logger) error {
	if !cfg.DetachOnExit {
		if !enforcing(ctx, cfg.PinDir) {
			log.Info("exiting: no ruleset was applied, nothing enforced", "pin_dir", cfg.PinDir)
			return nil
		}
		log.Info("exiting: the firewall stays enforcing (pins stay)", "pin_dir", cfg.PinDir)
		return nil
	}
	res, err := loader.RemoveState(cfg.PinDir)
	for _, name := range res.Detached {
		log.Info("detached", "interface", name)
	}
	if err != nil {
		return fmt.Errorf("detach on exit: %w", err)
	}
	if len(res.Left) > 0 {
		log.Warn("left pins that are not xdpfw's", "pin_dir", cfg.PinDir, "left", res.Left)
	}
	log.Info("exiting: detached and removed the state", "pin_dir", cfg.PinDir, "removed", res.DirRemoved)
	return nil
}

// listenRetry is how often a metrics address that could not be listened
// on is tried again.
const listenRetry = 5 * time.Second

// The metrics server's bounds on a connection. With only the first
// request's header timeout, a client that sent a request and then
// nothing (a keep-alive connection, whose wait for the next one had no
// deadline), or never read the answer, held a goroutine, a buffer and a
// descriptor for good, and its headers could be 1 MiB. A scraper reconnecting at each scrape costs a
// handshake; its headers are a few hundred bytes (a bearer token a few
// KiB). The write's bound counts from the request read, so a scrape
// waiting its turn at the state's lock (a long apply) gets that long:
// Prometheus has given up on it well before. Those bound each
// connection, not how many there are: every one accepted was served, so
// 10,000 clients that sent requests and read nothing held about 1 GB
// and a goroutine apiece (up to the descriptor limit, which under
// systemd is half a million), and a scrape waited its turn behind all
// theirs. Past metricsMaxConns a connection waits in the listen queue,
// costing the process nothing, until one held closes.
const (
	metricsQuiet     = 10 * time.Second // silent before a request's headers are in, or between requests
	metricsRead      = 30 * time.Second // a whole request
	metricsWrite     = time.Minute      // a request read to its answer written
	metricsMaxHeader = 16 << 10         // a request's headers
	metricsMaxConns  = 32               // connections at once
)

// serveMetrics serves /metrics from c on addr in the background until
// stop closes; the listening address goes to the log (port 0 picks one).
// Only an address that is not one fails it. One that cannot be listened
// on now, taken or not on the host yet (the unit starts before the
// network, and so before any address but the loopback's), is logged and
// tried again every listenRetry: the firewall is applied without waiting
// for its metrics, where a failed start had left the host without either.
func serveMetrics(addr string, c *collector, log *logger, stop <-chan struct{}) error {
	if _, port, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("metrics: %w", err)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("metrics: %s: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("metrics: cannot listen; tried again every "+listenRetry.String()+", the config is applied meanwhile", "address", addr, "error", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", c)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/" {
			http.NotFound(w, req)
			return
		}
		fmt.Fprintln(w, "xdpfw serve: metrics at /metrics")
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: metricsQuiet,
		ReadTimeout:       metricsRead,
		WriteTimeout:      metricsWrite,
		IdleTimeout:       metricsQuiet,
		MaxHeaderBytes:    metricsMaxHeader,
	}
	if ln != nil {
		log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	go func() {
		for ln == nil {
			select {
			case <-stop:
				return
			case <-time.After(listenRetry):
			}
			if ln, err = net.Listen("tcp", addr); err != nil {
				log.limited("metrics-listen", "metrics: cannot listen", "address", addr, "error", err)
				continue
			}
			log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
		}
		go func() {
			<-stop
			srv.Close()
		}()
		if err := srv.Serve(netutil.LimitListener(ln, metricsMaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unix is t in Unix seconds, 0 for the zero time.
func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
