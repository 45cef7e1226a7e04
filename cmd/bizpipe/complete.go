package main

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// Shell completion: cobra's completion command writes a script that calls
// bizpipe __complete; the functions here give it the values of flags and
// message ids.

// maxCompletedIDs bounds the message ids completion offers: the most recent
// ones, enough to find today's message, few enough to stay instant.
const maxCompletedIDs = 200

// completeValues completes a flag with a fixed list of values, and nothing
// else (no file names).
func completeValues[T ~string](values []T) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, v := range values {
			if strings.HasPrefix(string(v), toComplete) {
				out = append(out, string(v))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeDirs completes a flag whose value is a directory.
func completeDirs(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

// completeVarFiles completes --var-file: HCL and JSON files.
func completeVarFiles(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"hcl", "json"}, cobra.ShellCompDirectiveFilterFileExt
}

// completeDeclared completes a flag whose value names a block of the
// configuration the command's arguments name (the current directory without
// any): names lists the names cfg declares, such as its servers. Where no
// configuration is found nothing is offered. Only the labels matter, so
// the environment is not read (no BIZPIPE_VAR_ or env()).
func completeDeclared(names func(cfg *model.Config) []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		files, err := lang.FindFiles(args)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, _ := lang.Load(files, lang.Options{Mode: lang.ModeValidate, LookupEnv: func(string) (string, bool) { return "", false }})
		var out []cobra.Completion
		for _, name := range names(cfg) {
			if strings.HasPrefix(name, toComplete) {
				out = append(out, name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// serverNames are the servers cfg declares, in declaration order.
func serverNames(cfg *model.Config) []string {
	var out []string
	for _, s := range cfg.Servers {
		out = append(out, s.Name)
	}
	return out
}

// The names of cfg's receive locations, send ports and parties, in
// declaration order.
func locationNames(cfg *model.Config) []string {
	var out []string
	for _, l := range cfg.ReceiveLocations {
		out = append(out, l.Name)
	}
	return out
}

func sendPortNames(cfg *model.Config) []string {
	var out []string
	for _, p := range cfg.SendPorts {
		out = append(out, p.Name)
	}
	return out
}

func partyNames(cfg *model.Config) []string {
	var out []string
	for _, p := range cfg.Parties {
		out = append(out, p.Name)
	}
	return out
}

// hostsOn returns the names of the hosts cfg declares, in declaration
// order, that have an instance on the server named *server; every host
// while *server is empty (read when completing: the --server already
// given).
func hostsOn(server *string) func(cfg *model.Config) []string {
	return func(cfg *model.Config) []string {
		var out []string
		for _, h := range cfg.Hosts {
			if *server == "" || slices.ContainsFunc(h.Instances, func(in *model.Instance) bool {
				return in.Server != nil && in.Server.Name == *server
			}) {
				out = append(out, h.Name)
			}
		}
		return out
	}
}

// mustComplete registers a flag's completion. Registering twice, or for a
// flag that does not exist, is a programming error of the command tree.
func mustComplete(cmd *cobra.Command, flag string, fn cobra.CompletionFunc) {
	if err := cmd.RegisterFlagCompletionFunc(flag, fn); err != nil {
		panic("bizpipe: completion of --" + flag + " of " + cmd.Name() + ": " + err.Error())
	}
}

// completeMessageIDs completes the ID argument of a messages subcommand
// with the ids in the embedded box under --data-dir, most recent first,
// each described by its status, time and file name. keep, when not nil,
// drops the messages the command does not apply to; status, when not "",
// lists only those (so that older ones in that status are still offered).
// The box is opened read-only: completion never creates or changes one,
// and offers nothing where there is none. After the ID (or with
// --all-suspended) the arguments are configuration paths: files.
func completeMessageIDs(f *messagesFlags, status msgbox.Status, keep func(msgbox.Message) bool) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 || f.allSuspended {
			return nil, cobra.ShellCompDirectiveDefault
		}
		box, err := sqlitebox.Open(filepath.Join(f.dataDir, "messagebox.db"), sqlitebox.Options{ReadOnly: true})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer box.Close()
		// A shell waits for the answer: a box that is busy gives none
		// rather than a hang.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// The limit counts what is offered: a message terminate applies to
		// behind many delivered ones is still found, within the timeout.
		var out []cobra.Completion
		err = box.List(ctx, msgbox.Filter{Status: status}, func(m msgbox.Message) error {
			// An id a shell would have to quote is not offered (the box
			// makes none; a damaged one might).
			if !strings.HasPrefix(m.ID, toComplete) || safe(m.ID) != m.ID || strings.ContainsAny(m.ID, " \t'\"\\") {
				return nil
			}
			if keep != nil && !keep(m) {
				return nil
			}
			desc := string(m.Status) + " " + m.ReceivedAt.UTC().Format(time.RFC3339)
			if m.FileName != "" {
				desc += " " + m.FileName
			}
			out = append(out, cobra.CompletionWithDesc(m.ID, oneLine(safe(desc))))
			if len(out) == maxCompletedIDs {
				return errEnoughIDs
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnoughIDs) {
			// A box too large to look through within the timeout: what
			// was found so far is still worth offering.
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// errEnoughIDs stops the listing of completeMessageIDs once it has
// maxCompletedIDs to offer.
var errEnoughIDs = errors.New("enough message ids")

// notFinal keeps the messages that terminate still applies to.
func notFinal(m msgbox.Message) bool {
	return m.Status != msgbox.StatusDelivered && m.Status != msgbox.StatusTerminated
}

// notRefused drops the messages a receive pipeline refused: never
// authenticated, they are neither resumed nor resubmitted (the box says
// so, exit 1), so offering one leads nowhere.
func notRefused(m msgbox.Message) bool {
	return m.Decoding != msgbox.DecodingFailed
}

// resubmittable keeps the messages resubmit may copy: done with their
// deliveries (msgbox.CheckResubmit) and not refused.
func resubmittable(m msgbox.Message) bool {
	switch m.Status {
	case msgbox.StatusDelivered, msgbox.StatusSuspended, msgbox.StatusTerminated:
		return notRefused(m)
	}
	return false
}

// isCompletionRequest reports whether args is a shell's completion request
// (cobra's hidden __complete command).
func isCompletionRequest(args []string) bool {
	return len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd)
}

// plainFlagUsages removes the backquotes that mark a flag's placeholder
// (`FORMAT`) from the usage of every flag of the tree, as --help shows it:
// cobra offers the raw usage as the flag's description in completion.
func plainFlagUsages(c *cobra.Command) {
	plain := func(f *pflag.Flag) {
		_, f.Usage = pflag.UnquoteUsage(f)
	}
	c.Flags().VisitAll(plain)
	c.PersistentFlags().VisitAll(plain)
	for _, sub := range c.Commands() {
		plainFlagUsages(sub)
	}
}
