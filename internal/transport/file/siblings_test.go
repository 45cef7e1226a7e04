package file

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestFileClaimNoLocationRecovers: a claim that this server left when it
// was killed, of a file whose name no location of the restarted process
// takes (its pattern changed, or its location removed), sat hidden in the
// directory for ever, without a word. Now the first pass logs one warning
// naming it (once for the process, whichever locations share the
// directory), and a sibling location whose pattern takes it recovers it
// without one. The locations are built as the runner builds them, sharing
// one ReceiveEnv.Shared.
func TestFileClaimNoLocationRecovers(t *testing.T) {
	const warning = "no receive location of this process recovers"
	for _, tc := range []struct {
		name      string
		locs      []siblingLoc
		warnings  int    // over all locations
		recovered string // the location that receives b.txt, if any
	}{
		{"pattern changed", []siblingLoc{{"orders_in", "*.xml", false}}, 1, ""},
		{"sibling takes it", []siblingLoc{{"orders_in", "*.xml", false}, {"texts_in", "*.txt", false}}, 0, "texts_in"},
		{"sibling first takes it", []siblingLoc{{"texts_in", "*.txt", false}, {"orders_in", "*.xml", false}}, 0, "texts_in"},
		{"sibling elsewhere", []siblingLoc{{"orders_in", "*.xml", false}, {"texts_in", "*.txt", true}}, 1, ""},
		{"two locations, neither takes it", []siblingLoc{{"orders_in", "*.xml", false}, {"csv_in", "*.csv", false}}, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, elsewhere := t.TempDir(), t.TempDir()
			claim := claimName("srv1", "00000000000000cc", "b.txt")
			writeFile(t, dir, claim, "claimed before the kill")
			log, lr := transporttest.NewLog()
			recs, pollers := siblingPollers(t, dir, elsewhere, tc.locs, log, func(*component.ReceiveEnv) {})
			// The warning is at start, not at every pass.
			pollAndCount(t, pollers, 2, lr, warning, tc.warnings)
			if tc.warnings > 0 {
				attrs, _ := lr.Find(warning)
				if !strings.Contains(attrs["claims"], claim) || attrs["files"] != "[b.txt]" || attrs["dir"] != dir {
					t.Errorf("warning names %v, want claim %s of b.txt in %s", attrs, claim, dir)
				}
			}
			checkReceivedBy(t, dir, claim, tc.recovered, tc.locs, recs)
		})
	}
}

// TestFileDeadClaimNoLocationTakesOver: a claim another server left when it
// died, of a file whose name no location of this process polling the
// directory takes (the pattern changed while that server was down), was
// passed over by every takeover, silently, for ever. Now it is reported
// once it is old enough (a live server's fresh claim is not), once for
// the process however many passes and locations meet it, naming the
// claim, its file and the directory. A process that runs another host's
// locations may take it over, so it is reported when twice as old as
// takeovers wait for. A sibling location whose pattern takes it takes it
// over without a word.
func TestFileDeadClaimNoLocationTakesOver(t *testing.T) {
	const warning = "no receive location of this process takes over"
	for _, tc := range []struct {
		name     string
		locs     []siblingLoc
		age      time.Duration // how far the clock goes forward: takeovers wait 2m
		alone    bool          // built without Shared: no Siblings
		warnings int           // over all locations
		taken    string        // the location that takes b.txt over, if any
	}{
		{"pattern changed", []siblingLoc{{"orders_in", "*.xml", false}}, time.Hour, false, 1, ""},
		{"live owner's fresh claim", []siblingLoc{{"orders_in", "*.xml", false}}, 0, false, 0, ""},
		{"old enough to take over, not to report", []siblingLoc{{"orders_in", "*.xml", false}}, 3 * time.Minute, false, 0, ""},
		{"without siblings", []siblingLoc{{"orders_in", "*.xml", false}}, time.Hour, true, 1, ""},
		{"sibling takes it", []siblingLoc{{"orders_in", "*.xml", false}, {"texts_in", "*.txt", false}}, time.Hour, false, 0, "texts_in"},
		{"sibling first takes it", []siblingLoc{{"texts_in", "*.txt", false}, {"orders_in", "*.xml", false}}, time.Hour, false, 0, "texts_in"},
		{"sibling elsewhere", []siblingLoc{{"orders_in", "*.xml", false}, {"texts_in", "*.txt", true}}, time.Hour, false, 1, ""},
		{"two locations, neither takes it", []siblingLoc{{"orders_in", "*.xml", false}, {"csv_in", "*.csv", false}}, time.Hour, false, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, elsewhere := t.TempDir(), t.TempDir()
			claim := claimName("srv9", "00000000000000cc", "b.txt")
			writeFile(t, dir, claim, "claimed by srv9, which died")
			log, lr := transporttest.NewLog()
			recs, pollers := siblingPollers(t, dir, elsewhere, tc.locs, log, func(env *component.ReceiveEnv) {
				env.Lease = time.Minute // takeover after 2 minutes
				if tc.alone {
					env.Shared = nil
				}
			})
			for _, f := range pollers {
				// Claims are aged by their inode change time, which a test
				// cannot back-date: the clock goes forward.
				f.now = func() time.Time { return time.Now().Add(tc.age) }
			}
			// Once, not at every pass.
			pollAndCount(t, pollers, 3, lr, warning, tc.warnings)
			if tc.warnings > 0 {
				attrs, _ := lr.Find(warning)
				if attrs["claim"] != claim || attrs["file"] != "b.txt" || attrs["dir"] != dir {
					t.Errorf("warning names %v, want claim %s of b.txt in %s", attrs, claim, dir)
				}
			}
			checkReceivedBy(t, dir, claim, tc.taken, tc.locs, recs)
		})
	}
}

// siblingLoc is a file receive location of siblingPollers.
type siblingLoc struct {
	name, pattern string
	otherDir      bool // polls elsewhere, not dir
}

// siblingPollers builds locs as the runner builds them, sharing one
// ReceiveEnv.Shared, as server srv1, each env adjusted by tune; they
// poll dir, or elsewhere.
func siblingPollers(t *testing.T, dir, elsewhere string, locs []siblingLoc, log *slog.Logger, tune func(*component.ReceiveEnv)) ([]*transporttest.Recorder, []*Poller) {
	t.Helper()
	shared := map[string]any{}
	var recs []*transporttest.Recorder
	var pollers []*Poller
	for _, l := range locs {
		d := dir
		if l.otherDir {
			d = elsewhere
		}
		rec := transporttest.NewRecorder()
		cfg := &ReceiveConfig{
			Path:         value.Known(d, hcl.Range{}),
			Pattern:      value.Known(l.pattern, hcl.Range{}),
			PollInterval: value.Known(time.Millisecond, hcl.Range{}),
		}
		env := &component.ReceiveEnv{
			Location: l.name, Owner: "srv1", SettleTime: time.Minute, Sink: rec, Log: log,
			Shared: func(key string, make func() any) any {
				if _, ok := shared[key]; !ok {
					shared[key] = make()
				}
				return shared[key]
			},
		}
		tune(env)
		rc, err := cfg.NewReceiver(env)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		pollers = append(pollers, rc.(*receiver).f)
	}
	return recs, pollers
}

// checkReceivedBy checks that only the location named taker (none when
// "") received b.txt, under claim's key, and that claim is gone from dir
// if it did, left there if not.
func checkReceivedBy(t *testing.T, dir, claim, taker string, locs []siblingLoc, recs []*transporttest.Recorder) {
	t.Helper()
	for i, l := range locs {
		got := recs[i].All()
		if l.name != taker {
			if len(got) != 0 {
				t.Errorf("%s received %d files, want 0", l.name, len(got))
			}
			continue
		}
		if len(got) != 1 || got[0].In.FileName != "b.txt" || got[0].In.SourceKey != l.name+"/"+claimKey(claim) {
			t.Errorf("%s received %+v, want b.txt under its claim's key", l.name, got)
		}
	}
	want := []string{claim}
	if taker != "" {
		want = nil
	}
	if left := names(t, dir); !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}

// pollAndCount polls each of pollers, rounds times, and checks that the
// log then holds want warnings saying warning.
func pollAndCount(t *testing.T, pollers []*Poller, rounds int, lr *transporttest.LogRecorder, warning string, want int) {
	t.Helper()
	for range rounds {
		for _, f := range pollers {
			if _, err := poll(t, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := lr.Count(slog.LevelWarn, warning); n != want {
		t.Errorf("%d warnings %q, want %d; log:\n%v", n, warning, want, lr.Records())
	}
}
