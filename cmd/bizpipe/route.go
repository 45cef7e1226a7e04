package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/internal/clidoc"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

// routeFlags describe the message bizpipe route routes.
type routeFlags struct {
	location, file, fileName, contentType, party, format string
	properties                                           []string
	// message and dataDir: a message of the box instead of one described.
	message, dataDir string
}

func newRouteCmd(e *env) *cobra.Command {
	var f routeFlags
	var vf varFlags
	cmd := &cobra.Command{
		Use:   "route [flags] [PATH...]",
		Short: "Show which send ports a message would go to, and where, without running anything",
		Long: `Route evaluates every send port's filter for a message, as bizpipe run does
when it routes one, and for each port whose filter matches says where the
message would be delivered: the file path or URL its transport's templates
give. Nothing is received, stored or sent, and no certificate is read: a
test of filters and templates for CI, or before a change goes live.

The message is the one the receive location --location would store (the
only receive location, when there is one): its file name is --file-name, or
the base name of --file; its size that of --file (0 without one); its content type
--content-type, or the location's; its properties the location's, plus each
--property NAME=VALUE; its party --party (a declared party). Filters and
templates read these attributes, never the content; for a location with a
decoding pipeline, --file and --content-type describe the decoded payload,
which is what run stores and routes. Its id and time of receipt are made up
for the run of the command.

With --message ID, the message is one of the message box (the configuration's,
or the embedded one under --data-dir), as it is stored: where would it go
now? For instance before resuming a routing failure once a filter is fixed.
A postgres message box that cannot be reached fails at once, as for
bizpipe messages.

Route exits 0 when the message would be routed to a send port, and 1 when
it would be a routing failure (no filter matches, or none could be
evaluated) or the configuration has errors (with --format json, those are
validate's JSON document on stdout, its "valid" false); with --message,
also when the message box cannot be opened, has no message of that id (as
for messages show), or holds one its receive pipeline refused, which is
never routed. A port that matches but whose delivery would be suspended at
once (a target or header its transport refuses) is shown with the reason
and still counts as
routed, as it is in run: the message is routed there, and suspended.`,
		Example: `  bizpipe route --location orders_in --file samples/order.xml ./config
  bizpipe route --location as2_in --party fabrikam --file-name invoice.edi --format json ./config
  bizpipe route --message 01m8djzxdf3m4vr2at1vy2kb3t --data-dir /var/lib/bizpipe ./config`,
		PreRunE: func(c *cobra.Command, _ []string) error { return noEmptyFlags(c) },
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("data-dir") && f.message == "" {
				return usageHint(cmd, errors.New("--data-dir is where the message box of --message is; give --message ID too"))
			}
			return runRoute(e, f, vf, args)
		},
	}
	clidoc.SetExitCodes(cmd,
		clidoc.ExitCode{Code: exitOK, Meaning: "the message would be routed to at least one send port"},
		clidoc.ExitCode{Code: exitFindings, Meaning: "it would be a routing failure, or the configuration has errors; with --message, no message box, an unknown message id, or a message its receive pipeline refused (never routed)"},
		clidoc.ExitCode{Code: exitUsage, Meaning: "route could not run"})
	cmd.Flags().StringVar(&f.location, "location", "", "the receive location `NAME` that receives the message (default: the only one)")
	cmd.Flags().StringVar(&f.file, "file", "", "a `FILE` standing for the message: its base name and size")
	cmd.Flags().StringVar(&f.fileName, "file-name", "", "the message's file `NAME` (default: the base name of --file)")
	cmd.Flags().StringVar(&f.contentType, "content-type", "", "the message's content `TYPE` (default: the location's)")
	cmd.Flags().StringArrayVar(&f.properties, "property", nil, "a message property, `NAME=VALUE`, over the location's (repeatable)")
	cmd.Flags().StringVar(&f.party, "party", "", "the party `NAME` whose signature the location verified")
	cmd.Flags().StringVar(&f.message, "message", "", "route the message `ID` of the message box instead of one the flags describe")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", defaultDataDir, "with --message: `DIR` of the embedded message box")
	cmd.Flags().StringVar(&f.format, "format", "text", "output `FORMAT`: text or json")
	mustComplete(cmd, "format", completeValues([]string{"text", "json"}))
	for _, name := range []string{"location", "file-name", "content-type", "property", "party"} {
		mustComplete(cmd, name, cobra.NoFileCompletions)
	}
	vf.register(cmd)
	return cmd
}

// routeDocument is what route --format json prints.
type routeDocument struct {
	Message   routeMessage `json:"message" doc:"The message routed, as its filters see it."`
	SendPorts []routePort  `json:"send_ports" doc:"Every send port, in declaration order."`
	RoutedTo  []string     `json:"routed_to" doc:"The send ports whose filters match; [] for a routing failure."`
}

type routeMessage struct {
	ID              string            `json:"id,omitempty" doc:"With --message, its id."`
	ReceiveLocation string            `json:"receive_location" doc:"The receive location."`
	FileName        string            `json:"file_name" doc:"Its file name (\"\" when none)."`
	ContentType     string            `json:"content_type" doc:"Its content type."`
	Size            int64             `json:"size" doc:"Its size in bytes."`
	Properties      map[string]string `json:"properties" doc:"Its properties; sensitive values are shown as (sensitive value)."`
	Party           string            `json:"party" doc:"Its party (\"\" when none)."`
}

type routePort struct {
	Name    string `json:"name" doc:"The send port."`
	Matches bool   `json:"matches" doc:"Whether its filter matches the message."`
	Target  string `json:"target,omitempty" doc:"Where the message would be delivered, when the filter matches: \"file\" and its path, or \"POST\" and the URL (an AS2 port adds its party); sensitive parts and passwords hidden."`
	Error   string `json:"error,omitempty" doc:"Why the filter could not be evaluated, or why the delivery would be suspended before anything is sent (its target or headers fail the transport's checks)."`
}

func runRoute(e *env, f routeFlags, vf varFlags, args []string) error {
	f.format = formatName(f.format)
	if f.format != "text" && f.format != "json" {
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown --format %q: use text or json", f.format)}
	}
	cfg, diags, err := loadConfig(e, args, vf, lang.ModeRun)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if diags.HasErrors() {
		return reportConfigErrors(e, f.format == "json", diags, cfg)
	}
	var m *message.Message
	hideType := false // the content type derives from a sensitive value
	if f.message != "" {
		f.message = msgbox.TypedID(f.message)
		m, err = storedMessage(cfg, f)
	} else {
		m, hideType, err = routedMessage(cfg, f)
	}
	if err != nil {
		return err
	}
	red := newRedactor(cfg)
	shownType := m.ContentType
	if hideType {
		shownType = message.Redacted
	}
	// The marks hide what derives from a sensitive variable; a value
	// that equals one without deriving from it (env("BIZPIPE_VAR_x"), a
	// file() holding the password) is caught by the text replacement
	// validate applies to what it prints.
	props := msgbox.Message{Properties: m.Properties, SensitiveProperties: m.SensitiveProperties}.ShownProperties()
	if props == nil {
		props = map[string]string{} // {} in JSON, as documented, not null
	}
	for k, v := range props {
		props[k] = red.String(v)
	}
	doc := routeDocument{Message: routeMessage{ID: f.message, ReceiveLocation: m.ReceiveLocation, FileName: red.String(m.FileName), ContentType: red.String(shownType),
		Size: m.Size, Properties: props, Party: m.Party}, SendPorts: []routePort{}, RoutedTo: []string{}}
	for _, p := range cfg.SendPorts {
		rp := routePort{Name: p.Name}
		if p.Filter != nil {
			rp.Matches, err = p.Filter.Match(m)
			if err != nil {
				rp.Error = red.String(err.Error())
			}
		}
		if rp.Matches {
			doc.RoutedTo = append(doc.RoutedTo, p.Name)
			if d, ok := p.Transport.Config.(component.TargetDescriber); ok {
				target, err := d.DescribeTarget(&component.Delivery{Port: p.Name, Message: m})
				if err != nil {
					rp.Error = red.String(err.Error()) // the delivery would be suspended
				}
				rp.Target = red.String(target)
			}
		}
		doc.SendPorts = append(doc.SendPorts, rp)
	}
	if f.format == "json" {
		if err := writeJSON(e.stdout, doc); err != nil {
			return err
		}
	} else {
		writeRoute(e, doc)
	}
	if len(doc.RoutedTo) == 0 {
		return &exitError{code: exitFindings}
	}
	return nil
}

// writeRoute prints doc as text.
func writeRoute(e *env, doc routeDocument) {
	m := doc.Message
	if m.ID != "" {
		fmt.Fprintf(e.stdout, "message %s, as stored\n", safe(m.ID))
	}
	fmt.Fprintf(e.stdout, "message: receive location %s, file name %q, content type %s, %d bytes", safe(m.ReceiveLocation), m.FileName, safe(m.ContentType), m.Size)
	if m.Party != "" {
		fmt.Fprintf(e.stdout, ", party %s", safe(m.Party))
	}
	fmt.Fprintln(e.stdout)
	for _, k := range slices.Sorted(maps.Keys(m.Properties)) {
		fmt.Fprintf(e.stdout, "  property %s = %q\n", safe(k), m.Properties[k])
	}
	// Aligned as a tabwriter would, but in terminal columns: a port named
	// in Japanese takes two a character (pad).
	rows := make([][3]string, 0, len(doc.SendPorts))
	var widths [2]int
	for _, p := range doc.SendPorts {
		row := [3]string{"send port " + safe(p.Name)}
		switch {
		case p.Matches && p.Error != "":
			row[1], row[2] = "matches", "the delivery would be suspended: "+safe(p.Error)
		case p.Matches:
			row[1], row[2] = "matches", safe(p.Target)
		case p.Error != "":
			row[1], row[2] = "filter failed", safe(p.Error)
		default:
			row[1] = "no match"
		}
		for i := range widths {
			widths[i] = max(widths[i], safetext.Width(row[i]))
		}
		rows = append(rows, row)
	}
	for _, row := range rows {
		fmt.Fprintf(e.stdout, "%s%s%s\n", pad(row[0], widths[0]+2), pad(row[1], widths[1]+2), row[2])
	}
	if len(doc.RoutedTo) == 0 {
		fmt.Fprintln(e.stdout, "routing failure: no send port's filter matches the message")
		return
	}
	fmt.Fprintf(e.stdout, "routed to %s\n", strings.Join(doc.RoutedTo, ", "))
}

// storedMessage is message f.message of the box, as run routes it. One
// whose receive pipeline refused it is never routed: an error says so.
func storedMessage(cfg *model.Config, f routeFlags) (*message.Message, error) {
	for _, fl := range []struct {
		name string
		set  bool
	}{{"--location", f.location != ""}, {"--file", f.file != ""}, {"--file-name", f.fileName != ""},
		{"--content-type", f.contentType != ""}, {"--property", len(f.properties) > 0}, {"--party", f.party != ""}} {
		if fl.set {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s describes a message; --message takes the box's as it is stored", fl.name)}
		}
	}
	box, err := openBox(context.Background(), cfg, f.dataDir, boxRead, nil, nil)
	if err != nil {
		return nil, &exitError{code: exitFindings, err: err}
	}
	defer box.Close()
	d, err := box.Get(context.Background(), f.message)
	if err != nil {
		return nil, &exitError{code: exitFindings, err: err}
	}
	m := d.Message
	if m.Decoding == msgbox.DecodingFailed {
		return nil, &exitError{code: exitFindings, err: fmt.Errorf("message %s is never routed: its receive pipeline refused it", safe(m.ID))}
	}
	return runner.MessageOf(m), nil
}

// routedMessage is the message the flags describe, as the receive location
// would store it; hideType says that its content type, the location's,
// derives from a sensitive value.
func routedMessage(cfg *model.Config, f routeFlags) (m *message.Message, hideType bool, err error) {
	usage := func(format string, a ...any) error {
		return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
	}
	var rl *model.ReceiveLocation
	names := locationNames(cfg)
	for _, l := range cfg.ReceiveLocations {
		if l.Name == f.location || (f.location == "" && len(names) == 1) {
			rl = l
		}
	}
	switch {
	case rl != nil:
	case len(names) == 0:
		return nil, false, usage("the configuration declares no receive location")
	case f.location == "":
		return nil, false, usage("--location is required: the configuration declares %s", orList(safeAll(names)))
	default:
		return nil, false, checkDeclared("--location", "receive location", f.location, names)
	}
	m = &message.Message{ID: msgbox.NewID(time.Now(), rand.Reader), ReceiveLocation: rl.Name, ReceivedAt: time.Now().UTC(),
		ContentType: rl.ContentType.V, FileName: f.fileName, Properties: maps.Clone(rl.Properties.V),
		SensitiveProperties: rl.SensitiveProperties}
	if m.Properties == nil {
		m.Properties = map[string]string{}
	}
	if f.file != "" {
		st, err := os.Stat(f.file)
		if err != nil {
			return nil, false, usage("--file: %w", err)
		}
		if !st.Mode().IsRegular() {
			return nil, false, usage("--file %s: not a regular file", safe(f.file))
		}
		m.Size = st.Size()
		if m.FileName == "" {
			m.FileName = filepath.Base(f.file)
		}
	}
	if f.contentType != "" {
		// As the configuration front end checks content_type.
		if _, _, err := message.NormaliseContentType(f.contentType); err != nil || strings.TrimSpace(f.contentType) == "" {
			if err == nil {
				err = errors.New("empty")
			}
			return nil, false, usage("--content-type %s: not a content type: %w", safe(f.contentType), err)
		}
		m.ContentType = f.contentType
	}
	for _, p := range f.properties {
		name, value, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return nil, false, usage("--property %s: use NAME=VALUE", safe(p))
		}
		m.Properties[name] = value
		// A value given here is the user's own, not the location's
		// sensitive one.
		m.SensitiveProperties = slices.DeleteFunc(slices.Clone(m.SensitiveProperties), func(s string) bool { return s == name })
	}
	if f.party != "" {
		if err := checkDeclared("--party", "party", f.party, partyNames(cfg)); err != nil {
			return nil, false, err
		}
		m.Party = f.party
	}
	return m, rl.ContentType.Sensitive && f.contentType == "", nil
}

// safeAll is safe of each of ss.
func safeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = safe(s)
	}
	return out
}
