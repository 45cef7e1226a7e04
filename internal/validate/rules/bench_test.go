package rules_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/benchgen"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// BenchmarkValidate measures what `bizpipe validate DIR` does, minus output:
// FindFiles, lang.Load and rules.Check with a fresh certstore.Cache, so
// that every iteration reads and parses every store. The configuration is
// benchgen.Default (1,000 hosts × 2 instances on 50 servers, 2,000 send
// ports, 200 stores of about 10 certificates) at scale=1, and the same with
// hosts and send ports — so (send port, instance) pairs — scaled by 1/4 and
// 1/2, to show how cost grows with them. Stores are not scaled.
//
// Generating a configuration takes seconds (RSA keys, PKCS#12 files) and is
// done once per sub-benchmark, outside the timed loop.
//
//	go test ./internal/validate/rules -run '^$' -bench BenchmarkValidate -benchmem
func BenchmarkValidate(b *testing.B) {
	for _, sc := range []struct {
		name string
		f    float64
	}{{"scale=0.25", 0.25}, {"scale=0.5", 0.5}, {"scale=1", 1}} {
		b.Run(sc.name, func(b *testing.B) {
			p := benchgen.Default().Scale(sc.f)
			dir := b.TempDir()
			if err := benchgen.Generate(dir, p); err != nil {
				b.Fatal(err)
			}
			// The configuration must validate exactly as planned, or the
			// benchmark measures an error path.
			if got, want := errorCodes(b, validate(b, dir)), p.Expected(); !maps.Equal(got, want) {
				b.Fatalf("validating the generated configuration: got errors %v, want %v", got, want)
			}
			b.ReportAllocs()
			for b.Loop() {
				validate(b, dir)
			}
			pairs := p.SendPorts * p.InstancesPerHost
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(pairs), "ns/pair")
		})
	}
}

// BenchmarkValidatePhases splits BenchmarkValidate at scale=1 into its two
// phases: load (FindFiles and lang.Load: reading, parsing and decoding the
// .hcl files) and check (rules.Check with a fresh cache: reading and parsing
// every store, then the rules over every (send port, instance) pair).
func BenchmarkValidatePhases(b *testing.B) {
	p := benchgen.Default()
	dir := b.TempDir()
	if err := benchgen.Generate(dir, p); err != nil {
		b.Fatal(err)
	}
	files, err := lang.FindFiles([]string{dir})
	if err != nil {
		b.Fatal(err)
	}
	opts := lang.Options{Mode: lang.ModeValidate, LookupEnv: func(string) (string, bool) { return "", false }}
	b.Run("load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := lang.FindFiles([]string{dir}); err != nil {
				b.Fatal(err)
			}
			lang.Load(files, opts)
		}
	})
	b.Run("check", func(b *testing.B) {
		cfg, diags := lang.Load(files, opts)
		if len(diags) > 0 {
			b.Fatal(diags.Error())
		}
		b.ReportAllocs()
		for b.Loop() {
			rules.Check(cfg, rules.Options{Cache: certstore.NewCache()})
		}
	})
}

// validate runs the validate pipeline on dir and returns every diagnostic.
func validate(b *testing.B, dir string) hcl.Diagnostics {
	files, err := lang.FindFiles([]string{dir})
	if err != nil {
		b.Fatal(err)
	}
	cfg, diags := lang.Load(files, lang.Options{
		Mode:      lang.ModeValidate,
		LookupEnv: func(string) (string, bool) { return "", false },
	})
	_, rdiags := rules.Check(cfg, rules.Options{Cache: certstore.NewCache()})
	return append(diags, rdiags...)
}

// errorCodes counts error diagnostics by code; any warning fails b.
func errorCodes(b *testing.B, diags hcl.Diagnostics) map[string]int {
	out := map[string]int{}
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			b.Fatalf("unexpected warning: %s", d.Error())
		}
		out[string(diag.CodeOf(d))]++
	}
	if len(out) > 0 {
		b.Logf("errors by code: %v", fmt.Sprint(out))
	}
	return out
}
