package main

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/internal/clidoc"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/filelock"
	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/validate/live"
	"github.com/bizpipe/bizpipe/internal/validate/report"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

type runFlags struct {
	server      string
	host        string
	dataDir     string
	once        bool
	metricsAddr string
	logFormat   string
	logLevel    string
	retention   time.Duration
	lease       time.Duration
	cpuProfile  string
	vars        varFlags
}

func newRunCmd(e *env) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [flags] [PATH...]",
		Short: "Receive, sign, encrypt and deliver messages on this server",
		Long: `Run validates the configuration (static rules, and the live rules for the
server it runs on) and refuses to start on any error. It then runs the receive
locations and send ports of every host with an instance on --server. A receive
pipeline decrypts and verifies what arrives with the keys that instance
reaches, before the message is stored and routed; what it refuses is stored
as received and suspended with the reason.

With --host it runs only that host's receive locations and send ports, and
the host needs an instance on --server (exit 2 otherwise). What it checks
is scoped to that host: it loads only the stores of the host's instances
there (their service accounts' personal stores, the server's other-people
store), and the certificate and key rules and the live rules judge only
the host's locations, ports and instances there. It neither reads the
other hosts' stores nor reports those rules' findings about the other
hosts, so that each host can run as its own service account, with a
personal store the other accounts cannot read. Parsing and decoding are
not scoped: the configuration must be valid as a whole, so a syntax or
schema error anywhere (an unknown attribute in another host's send port
is BP1004) stops run --host as it stops run.
A variable (or env()) that only what the host does not run uses, such as
another account's store password, needs no value; one the host uses does,
and so does one that a send port's filter, the group, a party or the
message box reads. Without --host, one process runs every host there and
checks them all, and every variable needs a value. validate --live with
--host checks beforehand what run --host checks.

With --once it picks up what is present, processes until nothing more can be
done now (delivered, suspended, waiting for a retry, or awaiting an
asynchronous AS2 MDN, which it does not wait for: the summary then ends with
"awaiting MDN N"), prints a summary and exits. Otherwise it runs until SIGINT,
SIGTERM or SIGHUP, then stops taking new work, finishes what is in flight,
prints the summary and exits 0; a signal ends a --once run the same way.
Deliveries its workers claimed but had not begun are not attempted then:
they go back to the message box, due again, no attempt counted.
A signal that comes before run has started (while it loads the
configuration, or waits for a PostgreSQL message box) ends it at once,
exit 0, having started nothing. Uploads still arriving get 30 s to finish;
then they are cancelled (answered 503, nothing stored: the clients send
again). Deliveries in flight are waited for until each ends, its partner
answering or its transport's timeout passing (one abandoned may have been
delivered, and would be delivered again): meanwhile a line every 10 s
("stopping: still waiting for deliveries in flight") says how many are
left and on which send ports. A second signal stops at once, with exit
code 1: what was not stored was not acknowledged, and deliveries in flight
are attempted again after their lease. SIGHUP does not reload the
configuration (there is no reload): restart run for a changed
configuration to take effect.

Logs go to stderr. With --log-format json every line run writes there is
one JSON object: each finding of the validation is a record (WARN for a
warning, ERROR for an error, msg its summary, and code, severity, detail,
filename, line, column and object, the block it is in, where it has them),
and so is the error run ends with ("not starting: ..."). Only a command
line that cannot be parsed (an unknown flag, a malformed value such as
--retention 30x, a bad --log-format) is reported as text: the format is
not known yet. The findings are written whatever --log-level: they say
why run does not start. The summary goes to stdout.`,
		Example: `  bizpipe run --once ./config
  BIZPIPE_VAR_p12_password="$P12_PASSWORD" bizpipe run --server srv1 --metrics-addr 127.0.0.1:9464 ./config
  bizpipe run --server srv1 --host send_host --data-dir /var/lib/bizpipe --retention 720h ./config`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(e, f, args)
		},
	}
	clidoc.SetExitCodes(cmd,
		clidoc.ExitCode{Code: exitOK, Meaning: "stopped cleanly (SIGINT, SIGTERM or SIGHUP; with --once, nothing more to do now)"},
		clidoc.ExitCode{Code: exitFindings, Meaning: "the configuration has errors, or no host with an instance on --server has a receive location or send port (nothing was started), the engine failed, a second stop signal ended the stop at once, or a --once run could not do all its work (a receive location it could not read, a message box that failed to store or record: each is logged, the summary is printed first, and the next run takes up what is left)"},
		clidoc.ExitCode{Code: exitUsage, Meaning: "run could not start (bad usage, no configuration files, no --server where several servers are declared, a --host without an instance on --server)"})
	cmd.Flags().StringVar(&f.server, "server", "", "the `NAME` of the server this machine is (optional when one server is declared)")
	cmd.Flags().StringVar(&f.host, "host", "", "run only the receive locations and send ports of the host `NAME`")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", defaultDataDir, "`DIR` of the embedded message box")
	cmd.Flags().BoolVar(&f.once, "once", false, "process what is present, print a summary and exit")
	cmd.Flags().StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on `ADDR` (e.g. 127.0.0.1:9464)")
	cmd.Flags().StringVar(&f.logFormat, "log-format", "text", "log `FORMAT` on stderr: text or json")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "the least severe log lines written, `LEVEL`: debug, info, warn or error (debug adds a line per file or request a receive location takes)")
	durationVar(cmd.Flags(), &f.retention, "retention", 0, "purge delivered and terminated messages quiet for `DURATION` (at least 1m; e.g. 30d), hourly and at the end of --once; 0 keeps every message")
	durationVar(cmd.Flags(), &f.lease, "lease", time.Minute, "the `DURATION` a claimed delivery (and, twice that, a claimed input file) stays with this server before another server sharing the message box may take it over (at least 1s)")
	// For measuring (scripts/bench-run.sh); not part of the contract.
	cmd.Flags().StringVar(&f.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to `FILE`")
	_ = cmd.Flags().MarkHidden("cpuprofile")
	mustComplete(cmd, "server", completeDeclared(serverNames))
	mustComplete(cmd, "host", completeDeclared(hostsOn(&f.server)))
	mustComplete(cmd, "data-dir", completeDirs)
	mustComplete(cmd, "log-format", completeValues([]string{"text", "json"}))
	mustComplete(cmd, "log-level", completeValues([]string{"debug", "info", "warn", "error"}))
	f.vars.register(cmd)
	return cmd
}

func runRun(e *env, f runFlags, args []string) error {
	if f.logFormat != "text" && f.logFormat != "json" {
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown --log-format %q: use text or json", f.logFormat)}
	}
	server := f.server
	err := runConfigured(e, f, args, &server)
	if f.logFormat == "json" {
		return logExitError(withServer(newLogger(e, f.logFormat, slog.LevelError), server), err)
	}
	return err
}

// runConfigured is run once --log-format is known to be good. It sets
// *server to the server it runs for once it is known, for the record of
// the error it may return.
func runConfigured(e *env, f runFlags, args []string, server *string) error {
	if err := runner.CheckLease(f.lease); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("--lease %w", err)}
	}
	if f.retention != 0 {
		if err := runner.CheckRetention(f.retention); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--retention %w, or 0 to keep every message", err)}
		}
	}
	if err := checkMetricsAddr(f.metricsAddr); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	level, ok := parseLogLevel(f.logLevel)
	if !ok {
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown --log-level %q: use debug, info, warn or error", f.logLevel)}
	}
	// A stop signal stops run from here on: one that comes while it loads
	// the configuration or waits for its database (a PostgreSQL box that
	// does not answer) ends it at once, cleanly, having started nothing.
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	// With --host, a variable only the other hosts need (their accounts'
	// store passwords, given on their machines) may have no value here.
	cfg, diags, err := loadConfigWith(e, args, f.vars, lang.Options{Mode: lang.ModeRun, Host: f.host, Server: f.server})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	var checked *rules.Result
	if !diags.HasErrors() {
		if *server, err = serverOf(cfg, *server); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		// Before anything is checked or opened: a host without an
		// instance on the server would pass a validation that judges
		// nothing, then have nothing to run.
		if err := checkHostOn(cfg, *server, f.host); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		// With --host, this process may run as that host's service
		// account alone: what the other hosts need (their accounts'
		// stores, which it may not read) is neither loaded nor judged.
		var ds hcl.Diagnostics
		checked, ds = rules.Check(cfg, rules.Options{Server: *server, Host: f.host})
		diags = append(diags, ds...)
		ls, err := live.Check(cfg, checked, live.Options{Server: *server, Host: f.host, Run: true})
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		diags = append(diags, ls...)
	}
	switch {
	case len(diags) == 0:
	case f.logFormat == "json":
		// Whatever --log-level: the findings say why run refuses to
		// start, or what to look at before it does.
		logFindings(withServer(newLogger(e, f.logFormat, min(level, slog.LevelWarn)), *server), diags, cfg)
	default:
		if werr := e.report(e.stderr, report.FormatText, diags, cfg); werr != nil {
			return &exitError{code: exitUsage, err: werr}
		}
	}
	if n, _ := diag.Counts(diags); n > 0 {
		return &exitError{code: exitFindings, err: errors.New("not starting: the configuration has errors")}
	}
	// Before the box and the data directory are made: the runner would
	// find the same, having made them.
	if err := checkSomethingToRun(cfg, *server, f.host); err != nil {
		return &exitError{code: exitFindings, err: err}
	}

	log := newLogger(e, f.logFormat, level).With("server", *server)
	defer routeStandardLog(log)()
	// The embedded box's own lock first (it is the one that covers every
	// path to the database), so that a second run is told which database
	// is in use.
	m := metrics.New()
	var abandoned atomic.Int64
	box, err := openBox(ctx, cfg, f.dataDir, boxRun, log, countAbandoned(cfg, m, &abandoned))
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped before starting")
			return nil
		}
		return &exitError{code: exitFindings, err: err}
	}
	defer box.Close()
	unlock, err := lockDataDir(f.dataDir)
	if err != nil {
		return &exitError{code: exitFindings, err: err}
	}
	defer unlock()

	// Bodies a transport sends with their length wait here, on the data
	// directory's disk rather than in a tmpfs /tmp.
	spool := filepath.Join(f.dataDir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return &exitError{code: exitFindings, err: fmt.Errorf("data directory: %w", err)}
	}
	m.RegisterBacklog(box.Backlog)
	r, err := runner.New(runner.Options{
		Config: cfg, Checked: checked, Server: *server, Host: f.host,
		Box: box, Log: log, Metrics: m, Lease: f.lease, Retention: f.retention,
		SpoolDir: spool,
	})
	if err != nil {
		return &exitError{code: exitFindings, err: err}
	}
	defer func() {
		if err := r.Close(); err != nil {
			log.Warn("releasing the components' resources", "error", err)
		}
	}()
	expiry := certificateExpiry(cfg, checked, *server, f.host)
	m.RegisterCertificateExpiry(func() []metrics.CertificateExpiry { return expiry(time.Now()) })
	// Deliveries spend much of their time in file system calls (fsync,
	// rename, link, unlink) that hold a Go scheduler slot until the
	// runtime notices the call blocks; with twice as many slots as CPUs
	// the CPUs stay busy meanwhile (scripts/bench-run.sh: about 20% more
	// messages per second on 2 cores). Doubled after runner.New, whose
	// worker count is per CPU. GOMAXPROCS in the environment wins.
	if _, set := e.lookupEnv("GOMAXPROCS"); !set {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2 * runtime.GOMAXPROCS(0)))
	}
	ran := make(chan struct{})
	defer close(ran)
	go stopAtSecondSignal(ctx, ran, log, os.Exit)
	if f.metricsAddr != "" {
		srv, addr, err := serveMetrics(f.metricsAddr, m, log)
		if err != nil {
			return &exitError{code: exitFindings, err: err}
		}
		defer srv.Close()
		// The address bound: the port of :0, the one address of a host
		// name that has several.
		log.Info("serving metrics", "addr", addr)
	}

	if f.cpuProfile != "" {
		stopProfile, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		defer stopProfile()
	}
	log.Info("starting", "send_ports", r.Ports(), "once", f.once)
	var sum runner.Summary
	if f.once {
		sum, err = r.RunOnce(ctx)
	} else {
		sum, err = r.Run(ctx)
	}
	sum.Retried += int(abandoned.Load())
	fmt.Fprintf(e.stdout, "received %d, delivered %d, retried %d, suspended %d, waiting for retry %d",
		sum.Received, sum.Delivered, sum.Retried, sum.Suspended, sum.Waiting)
	if sum.AwaitingMDN > 0 {
		// Only then: the line stays as it was for every other run.
		fmt.Fprintf(e.stdout, ", awaiting MDN %d", sum.AwaitingMDN)
	}
	fmt.Fprintln(e.stdout)
	if err != nil && !errors.Is(err, context.Canceled) {
		return &exitError{code: exitFindings, err: err}
	}
	return nil
}

// countAbandoned is what hears of the attempts the box records as failed
// itself (a lease that expired, an MDN that did not come, an attempt a
// crash cut short): each whose port has a try left for it counts as
// retried, in m and in n (the summary's), as one a worker records as
// failed does. One without a try left is not retried: the worker that
// claims its delivery next suspends it without another attempt (runner:
// "attempt(s) were interrupted or failed"), which counts it as suspended
// (or finds its file placed, and counts it delivered),
// as a last attempt a worker records as failed counts only as that. Nor is
// an attempt of a port the configuration no longer declares: run does not
// try its deliveries, and has no series for it.
func countAbandoned(cfg *model.Config, m *metrics.Metrics, n *atomic.Int64) msgbox.AbandonedFunc {
	retries := make(map[string]int, len(cfg.SendPorts))
	for _, p := range cfg.SendPorts {
		retries[p.Name] = p.Retry.Attempts.V
	}
	return func(a msgbox.Abandoned) {
		// retry.attempts retries after the first try (runner's failed).
		if left, ok := retries[a.Port]; !ok || a.Attempt > left {
			return
		}
		m.Retried.WithLabelValues(a.Port).Inc()
		n.Add(1)
	}
}

// serverOf is the server run, or validate --live, checks and runs for:
// the one named by --server, or, when none is, the only server cfg declares
// (language §8: --server is optional when only one server is declared).
func serverOf(cfg *model.Config, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	if len(cfg.Servers) != 1 {
		names := safeAll(serverNames(cfg))
		if len(names) == 0 {
			return "", errors.New("the configuration declares no server: declare the server this runs on (a server block, with the instances of the hosts it runs)")
		}
		return "", fmt.Errorf("--server is required: the configuration declares %d servers, %s", len(names), orList(names))
	}
	return cfg.Servers[0].Name, nil
}

// checkHostOn is nil when host is "" (no --host), or is a declared host
// with an instance on server, a declared server: what run --host and
// validate --live --host check and run. Otherwise it says which is not,
// naming the servers where the host does have instances.
func checkHostOn(cfg *model.Config, server, host string) error {
	if host == "" {
		return nil
	}
	i := slices.IndexFunc(cfg.Hosts, func(h *model.Host) bool { return h.Name == host })
	if i < 0 {
		return fmt.Errorf("host %q is not declared in the configuration", host)
	}
	if !slices.ContainsFunc(cfg.Servers, func(s *model.Server) bool { return s.Name == server }) {
		return fmt.Errorf("server %q is not declared in the configuration", server)
	}
	var elsewhere []string
	for _, in := range cfg.Hosts[i].Instances {
		switch {
		case in.Server == nil:
		case in.Server.Name == server:
			return nil
		case !slices.Contains(elsewhere, strconv.Quote(in.Server.Name)):
			elsewhere = append(elsewhere, strconv.Quote(in.Server.Name))
		}
	}
	err := fmt.Sprintf("host %q has no instance on server %q", host, server)
	switch len(elsewhere) {
	case 0:
		return fmt.Errorf("%s: it declares no instance", err)
	case 1:
		return fmt.Errorf("%s, only on server %s", err, elsewhere[0])
	default:
		last := len(elsewhere) - 1
		return fmt.Errorf("%s, only on servers %s and %s", err, strings.Join(elsewhere[:last], ", "), elsewhere[last])
	}
}

// checkSomethingToRun fails when no host with an instance on server (only
// host, when given) has a send port or receive location: run would have
// nothing to do there, as the runner says too.
func checkSomethingToRun(cfg *model.Config, server, host string) error {
	runs := func(h *model.Host) bool {
		return h != nil && (host == "" || h.Name == host) &&
			slices.ContainsFunc(h.Instances, func(in *model.Instance) bool { return in.Server != nil && in.Server.Name == server })
	}
	if slices.ContainsFunc(cfg.SendPorts, func(p *model.SendPort) bool { return runs(p.Host) }) ||
		slices.ContainsFunc(cfg.ReceiveLocations, func(rl *model.ReceiveLocation) bool { return runs(rl.Host) }) {
		return nil
	}
	return fmt.Errorf("nothing to run on server %q: no host with an instance there has a send port or receive location", server)
}

// parseLogLevel reads a --log-level value.
func parseLogLevel(s string) (slog.Level, bool) {
	switch s {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// routeStandardLog sends what Go's standard logger prints (net/http's
// client reports some partner misbehaviour there, such as an answer on an
// idle connection) to log at WARN, so that stderr has one format (with
// --log-format json, one JSON object a line), and returns what puts the
// standard logger back.
func routeStandardLog(log *slog.Logger) (restore func()) {
	w, flags, prefix := stdlog.Writer(), stdlog.Flags(), stdlog.Prefix()
	stdlog.SetOutput(slog.NewLogLogger(log.Handler(), slog.LevelWarn).Writer())
	stdlog.SetFlags(0)
	stdlog.SetPrefix("")
	return func() {
		stdlog.SetOutput(w)
		stdlog.SetFlags(flags)
		stdlog.SetPrefix(prefix)
	}
}

func newLogger(e *env, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// logFindings logs each of diags as a record of its own, WARN for a
// warning and ERROR for an error, the message its summary: what
// validate's JSON report says of it but for the source snippet, with
// sensitive values replaced as every report replaces them.
func logFindings(log *slog.Logger, diags hcl.Diagnostics, cfg *model.Config) {
	files, parsed := sources(cfg)
	for _, fd := range report.Findings(diags, report.Options{Files: files, Parsed: parsed, Redact: newRedactor(cfg).r}) {
		level := slog.LevelError
		if fd.Severity == "warning" {
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String("severity", fd.Severity)}
		if fd.Code != "" {
			attrs = append(attrs, slog.String("code", fd.Code))
		}
		if fd.Detail != "" {
			attrs = append(attrs, slog.String("detail", fd.Detail))
		}
		if fd.Filename != "" {
			attrs = append(attrs, slog.String("filename", fd.Filename))
		}
		if fd.Line > 0 {
			attrs = append(attrs, slog.Int("line", fd.Line), slog.Int("column", fd.Column))
		}
		if fd.Object != "" {
			attrs = append(attrs, slog.String("object", fd.Object))
		}
		log.LogAttrs(context.Background(), level, fd.Summary, attrs...)
	}
}

// logExitError logs the error run ends with, when it has one to print, as
// an ERROR record of log, and returns it without that error: with
// --log-format json every line run writes to stderr is a record, the last
// one too.
func logExitError(log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// runConfigured returns exitErrors only; run reports any
		// other error as bad usage.
		ee = &exitError{code: exitUsage, err: err}
	}
	if ee.err == nil {
		return ee
	}
	log.Error(ee.err.Error())
	return &exitError{code: ee.code}
}

// withServer adds server to the records of log, when it is known: the
// records before run starts, as the engine's do.
func withServer(log *slog.Logger, server string) *slog.Logger {
	if server == "" {
		return log
	}
	return log.With("server", server)
}

// checkMetricsAddr makes a --metrics-addr that cannot be an address to
// listen on bad usage, reported before the configuration is loaded or the
// message box opened; one that is well formed but cannot be listened on
// (taken, not this machine's) fails when run listens, exit 1.
func checkMetricsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %s: give HOST:PORT, such as 127.0.0.1:9464 (:9464 for every interface)", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	return nil
}

func serveMetrics(addr string, m *metrics.Metrics, log *slog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	// The server's own errors (a failed accept, a handler's panic) are
	// log lines as any other, in --log-format, not the log package's.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	return srv, ln.Addr().String(), nil
}

// lockDataDir makes sure one run process uses a data directory. The
// embedded box holds a lock of its own, beside the database, whatever path
// reaches it (sqlitebox.Options.Lock); this one, the lock of bizpipe
// versions before that, still keeps such a version out of a data directory
// a newer one runs in, and two runs out of one data directory with a
// postgres box.
func lockDataDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	l, err := filelock.Acquire(filepath.Join(dir, "run.lock"))
	var held *filelock.HeldError
	switch {
	case errors.As(err, &held) && held.PID > 0:
		return nil, fmt.Errorf("another bizpipe run (pid %d) is using data directory %s", held.PID, dir)
	case errors.As(err, &held):
		return nil, fmt.Errorf("another bizpipe run is using data directory %s", dir)
	case err != nil:
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	return func() { l.Release() }, nil
}

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// stopAtSecondSignal waits, once ctx is done (the first stop signal), for
// a second stop signal, and then ends the process at once (exit: os.Exit
// but in tests), with exitFindings: an operator (or a supervisor) that does not want to wait
// for the stop must not have to reach for SIGKILL. That is safe as a
// crash is: every message a source was told is stored is committed to the
// box; an upload or a file not yet stored was not acknowledged and is sent
// or picked up again; a delivery in flight is attempted again once its
// lease runs out (at least once, as always). ran closes when run returns,
// which ends the wait.
func stopAtSecondSignal(ctx context.Context, ran <-chan struct{}, log *slog.Logger, exit func(code int)) {
	select {
	case <-ctx.Done():
	case <-ran:
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, stopSignals()...)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		log.Warn("second stop signal: stopping at once; uploads and files not yet stored are not acknowledged and come again, deliveries in flight are attempted again after their lease",
			"signal", s.String())
		exit(exitFindings)
	case <-ran:
	}
}
