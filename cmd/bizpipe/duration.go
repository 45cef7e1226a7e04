package main

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Every duration flag of the command line (certs --expiring-within,
// messages purge --older-than, run --retention and --lease) is read by
// parseDuration, so that what one accepts every other does: an operator
// who wrote --expiring-within 30d writes --older-than 30d too. Durations
// in the configuration are HCL's business and keep Go's syntax (language
// §4): a day unit there would be a language change.

// parseDuration reads a duration flag's value: a Go duration ("720h",
// "90m"), a whole number of days ("30d"), or days then a Go duration
// ("1d12h"). A day is 24 hours. It must not be negative. The error does
// not repeat s: pflag's message names the value and the flag.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return 0, errors.New("it must not be negative")
	}
	m := daysPrefix.FindStringSubmatch(s)
	if m == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, errDurationSyntax
		}
		if d < 0 {
			return 0, errors.New("it must not be negative")
		}
		return d, nil
	}
	days, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || days > int64(math.MaxInt64/int64(24*time.Hour)) {
		return 0, errDurationTooLong
	}
	d := time.Duration(days) * 24 * time.Hour
	if m[2] != "" {
		rest, err := time.ParseDuration(m[2])
		if err != nil || rest < 0 {
			return 0, errDurationSyntax
		}
		if rest > math.MaxInt64-d {
			return 0, errDurationTooLong
		}
		d += rest
	}
	return d, nil
}

var (
	errDurationSyntax  = errors.New("use days (30d), a duration such as 720h, or both (1d12h)")
	errDurationTooLong = errors.New("too long")
)

// daysPrefix matches "30d" and "30d12h": the days, then the rest.
var daysPrefix = regexp.MustCompile(`^(\d+)d(.*)$`)

// durationValue is a duration flag read by parseDuration.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

// String shows the default in --help as Go prints a duration ("1m0s"), a
// form parseDuration reads back; 0 as "0", which pflag takes for "no
// default" and does not show.
func (d *durationValue) String() string {
	if *d == 0 {
		return "0"
	}
	return time.Duration(*d).String()
}

// Type is the placeholder pflag shows when a usage names none.
func (d *durationValue) Type() string { return "duration" }

// durationVar defines a duration flag on fs, stored in p, that
// parseDuration reads.
func durationVar(fs *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}
