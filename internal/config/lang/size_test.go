package lang

import (
	"strings"
	"testing"
	"time"
)

// TestParseSize: a size (language §3: "sizes accept KiB/MiB/GiB") is a
// whole number of bytes with an optional unit, binary (KiB is 1024 bytes)
// or decimal (KB is 1000), written exactly; anything else, zero, and what
// does not fit in 63 bits are refused with the reason.
func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string // part of the error, "" for none
	}{
		{in: "1", want: 1},
		{in: "512B", want: 512},
		{in: "1KiB", want: 1024},
		{in: "64MiB", want: 64 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "1KB", want: 1000},
		{in: "5MB", want: 5_000_000},
		{in: "1GB", want: 1_000_000_000},
		{in: "3TB", want: 3_000_000_000_000},
		{in: " 64 MiB ", want: 64 << 20},
		{in: "007KiB", want: 7 << 10},
		{in: "8388607TiB", want: 8388607 << 40},
		{in: "8388608TiB", err: "is out of range"},
		{in: "9223372036854775807", want: 1<<63 - 1},
		{in: "9223372036854775808", err: "is out of range"},
		{in: "0", err: "is zero"},
		{in: "0MiB", err: "is zero"},
		{in: "", err: "does not start with a number"},
		{in: "MiB", err: "does not start with a number"},
		{in: "-1MiB", err: "does not start with a number"},
		{in: "+1MiB", err: "does not start with a number"},
		{in: "\u0661MiB", err: "does not start with a number"}, // ARABIC-INDIC DIGIT ONE
		{in: "1.5GiB", err: `unknown unit ".5GiB"`},
		{in: "1e6", err: `unknown unit "e6"`},
		{in: "64mib", err: `unknown unit "mib"`},
		{in: "64Mi", err: `unknown unit "Mi"`},
		{in: "64 M", err: `unknown unit "M"`},
		{in: "64MiB\x00", err: "unknown unit"},
		{in: "64MiBs", err: `unknown unit "MiBs"`},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseSize(%q) = %d, %v; want an error saying %q", tt.in, got, err, tt.err)
		}
	}
	if err := func() error { _, err := ParseSize("1 furlong"); return err }(); err == nil ||
		!strings.Contains(err.Error(), "(use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)") {
		t.Errorf("an unknown unit's error %v does not list the units", err)
	}
}

// TestDurations: a duration (language §3: "Go syntax") is a positive Go
// duration; zero, a negative one, a unit Go does not know (a day), a space
// and one beyond Go's range are BP1004 quoting the value, not shown when
// it is sensitive.
func TestDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration // 0: refused
	}{
		{`"90s"`, 90 * time.Second},
		{`"5m"`, 5 * time.Minute},
		{`"720h"`, 720 * time.Hour},
		{`"1.5h"`, 90 * time.Minute},
		{`"1h30m15s"`, time.Hour + 30*time.Minute + 15*time.Second},
		{`"250ms"`, 250 * time.Millisecond},
		{`"1ns"`, time.Nanosecond},
		{`"0s"`, 0},
		{`"0"`, 0},
		{`"-5m"`, 0},
		{`"1d"`, 0},
		{`"5M"`, 0},
		{`" 5m"`, 0},
		{`"5 m"`, 0},
		{`"30 days"`, 0},
		{`""`, 0},
		{`"9999999999h"`, 0},
		{`90`, 0}, // a number is not a duration: it has no unit
		{`var.secret`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			cfg, diags := loadSource(t, `variable "secret" {
  default   = "-1h"
  sensitive = true
}
group "g" {
  certificate_expiry_warning = `+tt.in+`
}
`)
			if tt.want != 0 {
				if len(diags) > 0 || cfg.Group.CertificateExpiryWarning.V != tt.want {
					t.Errorf("certificate_expiry_warning = %v, %s; want %v", cfg.Group.CertificateExpiryWarning.V, diags.Error(), tt.want)
				}
				return
			}
			if len(diags) != 1 || diags[0].Summary != "Invalid duration for certificate_expiry_warning" {
				t.Fatalf("diagnostics %v, want one Invalid duration", diags)
			}
			detail := diags[0].Detail
			if tt.in == `var.secret` {
				if strings.Contains(detail, "-1h") {
					t.Errorf("the sensitive value is shown: %s", detail)
				}
			} else if quoted := `"` + strings.Trim(tt.in, `"`) + `"`; !strings.Contains(detail, "got "+quoted) {
				t.Errorf("detail %q does not quote the value %s", detail, tt.in)
			}
		})
	}
}
