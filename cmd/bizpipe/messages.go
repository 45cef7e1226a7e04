package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

type messagesFlags struct {
	dataDir   string
	status    string
	format    string
	limit     int
	olderThan time.Duration
	// allSuspended and port select the messages of a bulk resume or
	// terminate (see bulk.go).
	allSuspended bool
	port         string
}

func newMessagesCmd(e *env) *cobra.Command {
	var f messagesFlags
	cmd := &cobra.Command{
		Use:   "messages",
		Short: "Inspect and operate the message box: list, show, body, resume, terminate, purge",
		Long: `Messages reads the message box: the one the configuration in PATH declares
(message_box block), or the embedded one under --data-dir.`,
	}
	cmd.PersistentFlags().StringVar(&f.dataDir, "data-dir", defaultDataDir, "`DIR` of the embedded message box")
	cmd.PersistentFlags().StringVar(&f.format, "format", "text", "output format: text or json")

	list := &cobra.Command{
		Use:   "list [PATH...]",
		Short: "List messages, newest first",
		RunE: func(cmd *cobra.Command, args []string) error {
			return withBox(e, f, args, func(ctx context.Context, box msgbox.Box) error {
				return listMessages(ctx, e.stdout, box, f)
			})
		},
	}
	list.Flags().StringVar(&f.status, "status", "", "only messages in this status: received, routed, delivered, retrying, suspended or terminated")
	list.Flags().IntVar(&f.limit, "limit", 0, "at most this many messages (0: all)")

	show := &cobra.Command{
		Use:   "show ID [PATH...]",
		Short: "Show a message with its deliveries, attempts and history",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withBox(e, f, args[1:], func(ctx context.Context, box msgbox.Box) error {
				d, err := box.Get(ctx, args[0])
				if err != nil {
					return err
				}
				return showMessage(e.stdout, d, f.format)
			})
		},
	}
	resume := &cobra.Command{
		Use:   "resume ID [PATH...] | resume --all-suspended [--port NAME] [PATH...]",
		Short: "Retry a suspended message's suspended deliveries (or route a routing failure again)",
		Long: `Resume makes a suspended message's suspended deliveries due again, with their
attempt counts reset, or routes a routing failure again. With --all-suspended
it resumes every suspended message (with --port, those with a suspended
delivery to that send port): what an operator does once a partner is back
after an outage.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(e, f, args, "resumed", msgbox.Box.Resume)
		},
	}
	terminate := &cobra.Command{
		Use:   "terminate ID [PATH...] | terminate --all-suspended [--port NAME] [PATH...]",
		Short: "End a message: it will never be delivered",
		Long: `Terminate ends a message for good: its deliveries not yet made never will be.
With --all-suspended it terminates every suspended message (with --port,
those with a suspended delivery to that send port).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(e, f, args, "terminated", msgbox.Box.Terminate)
		},
	}
	for _, c := range []*cobra.Command{resume, terminate} {
		c.Flags().BoolVar(&f.allSuspended, "all-suspended", false, "every suspended message instead of one ID")
		c.Flags().StringVar(&f.port, "port", "", "with --all-suspended: only messages with a suspended delivery to the send port `NAME`")
	}
	purge := &cobra.Command{
		Use:   "purge --older-than DURATION [PATH...]",
		Short: "Delete delivered and terminated messages untouched for DURATION, with their bodies and history",
		Long: `Purge deletes the messages that are delivered or terminated and whose history
has had no entry for --older-than (e.g. 720h), with their bodies, deliveries,
attempts and history. Nothing else is ever deleted: suspended, retrying and
pending messages stay, however old. Run purge regularly (a timer or cron job),
or bizpipe run --retention, to bound the message box's size.

A purged message's source is forgotten. After a crash, bizpipe run recognises
an input file it had claimed but not yet removed by its message in the box;
so do not purge with an --older-than shorter than a stop of run that left
such files (run --retention never purges at start, for this reason).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The rule of run --retention: a purged message's source
			// key is forgotten (see runner.MinRetention).
			if err := runner.CheckRetention(f.olderThan); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--older-than %w", err)}
			}
			return withBox(e, f, args, func(ctx context.Context, box msgbox.Box) error {
				n, err := box.Purge(ctx, time.Now().Add(-f.olderThan))
				if err != nil {
					return err
				}
				if f.format == "json" {
					return writeJSON(e.stdout, struct {
						Purged int `json:"purged"`
					}{n})
				}
				fmt.Fprintf(e.stdout, "purged %d message(s): delivered or terminated, untouched for %v\n", n, f.olderThan)
				return nil
			})
		},
	}
	purge.Flags().DurationVar(&f.olderThan, "older-than", 0, "purge messages untouched for at least this `DURATION` (required, at least 1m)")
	body := &cobra.Command{
		Use:   "body ID [PATH...]",
		Short: "Write a message's body, as received, to stdout",
		Long: `Body writes the body of a message exactly as it was received (before any
pipeline signed or encrypted it) to stdout, for an operator to inspect a
suspended message or hand it to a partner: bizpipe messages body ID > order.xml.
The box checks the body against the digest it stored on receipt; a body that
does not match is an error, not output. --format does not apply.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withBox(e, f, args[1:], func(ctx context.Context, box msgbox.Box) error {
				return writeBody(ctx, e.stdout, box, args[0])
			})
		},
	}
	cmd.AddCommand(list, show, body, resume, terminate, purge)
	return cmd
}

// withBox opens the message box for a messages subcommand. A configuration
// is optional: without *.hcl files the embedded box under --data-dir is used.
func withBox(e *env, f messagesFlags, paths []string, fn func(context.Context, msgbox.Box) error) error {
	if f.format != "text" && f.format != "json" {
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown format %q: use text or json", f.format)}
	}
	var cfg *model.Config
	if files, err := lang.FindFiles(paths); err == nil {
		c, diags := lang.Load(files, lang.Options{Mode: lang.ModeValidate, LookupEnv: e.lookupEnv})
		if diags.HasErrors() && c.MessageBox != nil {
			return &exitError{code: exitFindings, err: fmt.Errorf("the configuration has errors; run bizpipe validate")}
		}
		cfg = c
	} else if len(paths) > 0 {
		return &exitError{code: exitUsage, err: err}
	}
	box, err := openBox(cfg, f.dataDir, boxOperate)
	if err != nil {
		return &exitError{code: exitFindings, err: err}
	}
	defer box.Close()
	if err := fn(context.Background(), box); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return &exitError{code: exitFindings, err: err}
	}
	return nil
}

// writeBody copies a message's body to w. The box verifies the body's
// digest as the reader reaches its end, so a corrupt body fails the
// command (after part of it was written: the exit status says so).
func writeBody(ctx context.Context, w io.Writer, box msgbox.Box, id string) error {
	rc, err := box.Body(ctx, id)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("message %s: body: %w", id, err)
	}
	return nil
}

func listMessages(ctx context.Context, w io.Writer, box msgbox.Box, f messagesFlags) error {
	st := msgbox.Status(f.status)
	switch st {
	case "", msgbox.StatusReceived, msgbox.StatusRouted, msgbox.StatusDelivered, msgbox.StatusRetrying,
		msgbox.StatusSuspended, msgbox.StatusTerminated:
	default:
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown --status %q", f.status)}
	}
	msgs, err := box.List(ctx, msgbox.Filter{Status: st, Limit: f.limit})
	if err != nil {
		return err
	}
	if f.format == "json" {
		out := make([]jsonMessage, 0, len(msgs))
		for _, m := range msgs {
			out = append(out, toJSONMessage(m))
		}
		return writeJSON(w, struct {
			Messages []jsonMessage `json:"messages"`
		}{out})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tRECEIVED\tLOCATION\tFILE\tSIZE\tREASON")
	for _, m := range msgs {
		// Every string from the box is escaped (see safe): a tab or
		// newline in a file name would forge cells and rows.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", safe(m.ID), safe(string(m.Status)), m.ReceivedAt.UTC().Format(time.RFC3339),
			safe(m.ReceiveLocation), safe(m.FileName), m.Size, safe(oneLine(m.Reason)))
	}
	return tw.Flush()
}

type jsonMessage struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	ReceiveLocation string            `json:"receive_location"`
	FileName        string            `json:"file_name"`
	ContentType     string            `json:"content_type"`
	Size            int64             `json:"size"`
	ReceivedAt      string            `json:"received_at"`
	Properties      map[string]string `json:"properties"`
	Reason          string            `json:"reason,omitempty"`
}

func toJSONMessage(m msgbox.Message) jsonMessage {
	props := m.ShownProperties() // sensitive values hidden
	if props == nil {
		props = map[string]string{}
	}
	return jsonMessage{ID: m.ID, Status: string(m.Status), ReceiveLocation: m.ReceiveLocation, FileName: m.FileName,
		ContentType: m.ContentType, Size: m.Size, ReceivedAt: m.ReceivedAt.UTC().Format(time.RFC3339Nano),
		Properties: props, Reason: m.Reason}
}

type jsonDelivery struct {
	ID            int64  `json:"id"`
	Port          string `json:"send_port"`
	State         string `json:"state"`
	Attempts      int    `json:"attempts"`
	NextAttemptAt string `json:"next_attempt_at,omitempty"`
	LastError     string `json:"last_error,omitempty"`
}

type jsonAttempt struct {
	DeliveryID int64  `json:"delivery_id"`
	Port       string `json:"send_port"`
	Number     int    `json:"number"`
	Owner      string `json:"owner"`
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at"`
	Outcome    string `json:"outcome"`
	Error      string `json:"error,omitempty"`
}

type jsonEvent struct {
	At     string `json:"at"`
	Port   string `json:"send_port,omitempty"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func showMessage(w io.Writer, d *msgbox.Detail, format string) error {
	if format == "json" {
		out := struct {
			Message    jsonMessage    `json:"message"`
			Deliveries []jsonDelivery `json:"deliveries"`
			Attempts   []jsonAttempt  `json:"attempts"`
			History    []jsonEvent    `json:"history"`
		}{Message: toJSONMessage(d.Message), Deliveries: []jsonDelivery{}, Attempts: []jsonAttempt{}, History: []jsonEvent{}}
		for _, dl := range d.Deliveries {
			jd := jsonDelivery{ID: dl.ID, Port: dl.Port, State: string(dl.State), Attempts: dl.Attempts, LastError: dl.LastError}
			if !dl.NextAttemptAt.IsZero() && (dl.State == msgbox.DeliveryRetrying || dl.State == msgbox.DeliveryPending) {
				jd.NextAttemptAt = dl.NextAttemptAt.UTC().Format(time.RFC3339Nano)
			}
			out.Deliveries = append(out.Deliveries, jd)
		}
		for _, a := range d.Attempts {
			out.Attempts = append(out.Attempts, jsonAttempt{DeliveryID: a.DeliveryID, Port: a.Port, Number: a.Number, Owner: a.Owner,
				StartedAt: a.StartedAt.UTC().Format(time.RFC3339Nano), FinishedAt: a.FinishedAt.UTC().Format(time.RFC3339Nano),
				Outcome: string(a.Outcome), Error: a.Error})
		}
		for _, ev := range d.History {
			out.History = append(out.History, jsonEvent{At: ev.At.UTC().Format(time.RFC3339Nano), Port: ev.Port, Status: ev.Status, Detail: ev.Detail})
		}
		return writeJSON(w, out)
	}
	// Every string from the box is escaped (see safe).
	m := d.Message
	fmt.Fprintf(w, "message %s\n", safe(m.ID))
	fmt.Fprintf(w, "  status            %s\n", safe(string(m.Status)))
	if m.Reason != "" {
		fmt.Fprintf(w, "  reason            %s\n", safe(oneLine(m.Reason)))
	}
	fmt.Fprintf(w, "  received at       %s\n", m.ReceivedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  receive location  %s\n", safe(m.ReceiveLocation))
	fmt.Fprintf(w, "  file name         %s\n", safe(m.FileName))
	fmt.Fprintf(w, "  content type      %s\n", safe(m.ContentType))
	fmt.Fprintf(w, "  size              %d\n", m.Size)
	props := m.ShownProperties() // sensitive values hidden
	for _, k := range sortedKeys(props) {
		fmt.Fprintf(w, "  property          %s = %s\n", safe(k), safe(props[k]))
	}
	fmt.Fprintln(w, "deliveries")
	for _, dl := range d.Deliveries {
		fmt.Fprintf(w, "  %-20s %-12s attempts %d", safe(dl.Port), safe(string(dl.State)), dl.Attempts)
		if dl.State == msgbox.DeliveryRetrying {
			fmt.Fprintf(w, ", next at %s", dl.NextAttemptAt.UTC().Format(time.RFC3339))
		}
		if dl.LastError != "" {
			fmt.Fprintf(w, "\n    last error: %s", safe(oneLine(dl.LastError)))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "history")
	for _, ev := range d.History {
		port := ""
		if ev.Port != "" {
			port = " [" + safe(ev.Port) + "]"
		}
		fmt.Fprintf(w, "  %s %s%s", ev.At.UTC().Format(time.RFC3339), safe(ev.Status), port)
		if ev.Detail != "" {
			fmt.Fprintf(w, ": %s", safe(oneLine(ev.Detail)))
		}
		fmt.Fprintln(w)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// safe is how every string from outside (the message box, certificate
// stores) is printed in text output: as it is when printable, else quoted
// with its control characters escaped, so that it cannot drive the
// terminal or forge a line. JSON output needs none of it.
func safe(s string) string { return safetext.Field(s) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
