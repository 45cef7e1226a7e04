package benchgen_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/benchgen"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// small is a configuration small enough to generate in a test.
func small() benchgen.Params {
	return benchgen.Params{
		Hosts: 12, InstancesPerHost: 2, Servers: 4, SendPorts: 30, Stores: 10,
		CertsPerStore: 10, Partners: 4, PartnerKeys: 1, PKCS12Every: 3,
		ReceiveLocations: 5, HostsPerFile: 5, PortsPerFile: 8,
	}
}

func validate(t *testing.T, dir string) hcl.Diagnostics {
	t.Helper()
	files, err := lang.FindFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(files, lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	_, rdiags := rules.Check(cfg, rules.Options{Cache: certstore.NewCache()})
	return append(diags, rdiags...)
}

// TestBenchgenClean checks that a configuration without faults validates
// with no diagnostic at all, and that every store holds CertsPerStore
// certificates, PKCS#12 files included.
func TestBenchgenClean(t *testing.T) {
	p := small()
	dir := t.TempDir()
	if err := benchgen.Generate(dir, p); err != nil {
		t.Fatal(err)
	}
	if diags := validate(t, dir); len(diags) > 0 {
		t.Fatalf("the generated configuration does not validate clean:\n%s", diags.Error())
	}
	if got := p.Expected(); len(got) != 0 {
		t.Errorf("Expected() = %v without faults", got)
	}

	hcls, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
	// group, stores, accounts, servers, pipelines, receive + 3 host files + 4 port files
	if len(hcls) != 6+3+4 {
		t.Errorf("%d .hcl files, want 13: %v", len(hcls), hcls)
	}
	var stores []string
	for _, pattern := range []string{"stores/personal/*", "stores/other_people/*"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		stores = append(stores, m...)
	}
	if len(stores) != p.Stores {
		t.Fatalf("%d store directories, want %d", len(stores), p.Stores)
	}
	kinds := map[certstore.FileKind]int{}
	for _, s := range stores {
		st, err := certstore.Load(s, certstore.KnownPassword("bench-only"))
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Problems) > 0 {
			t.Errorf("%s: %v", s, st.Problems)
		}
		if len(st.Certificates) != p.CertsPerStore {
			t.Errorf("%s holds %d certificates, want %d", s, len(st.Certificates), p.CertsPerStore)
		}
		for _, f := range st.Files {
			kinds[f.Kind]++
		}
		if strings.Contains(s, "personal") {
			keys := 0
			for _, c := range st.Certificates {
				if c.Key != nil {
					keys++
				}
			}
			if keys == 0 {
				t.Errorf("%s: no certificate has its key", s)
			}
		}
	}
	for _, k := range []certstore.FileKind{certstore.FilePEM, certstore.FileDER, certstore.FilePKCS12, certstore.FileIgnored} {
		if kinds[k] == 0 {
			t.Errorf("no %s file in any store (%v)", k, kinds)
		}
	}
}

// TestBenchgenFaults checks that each deliberate fault produces exactly the
// errors Expected announces, and nothing else.
func TestBenchgenFaults(t *testing.T) {
	p := small()
	p.Faults = 5 // every kind, and two of two kinds
	want := p.Expected()
	if len(want) != 3 || want["BP2004"] != 1 || want["BP4002"] != 2*p.InstancesPerHost {
		t.Fatalf("Expected() = %v, want BP2004 once, BP4002 %d times and BP3002", want, 2*p.InstancesPerHost)
	}
	dir := t.TempDir()
	if err := benchgen.Generate(dir, p); err != nil {
		t.Fatal(err)
	}
	diags := validate(t, dir)
	got := map[string]int{}
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			t.Errorf("unexpected warning: %s", d.Error())
		}
		got[string(diag.CodeOf(d))]++
	}
	if !maps.Equal(got, want) {
		t.Errorf("errors by code: got %v, want %v\n%s", got, want, diags.Error())
	}
}

// TestBenchgenParams checks the parameter checks and the scaling.
func TestBenchgenParams(t *testing.T) {
	d := benchgen.Default()
	if err := d.Check(); err != nil {
		t.Errorf("Default() does not pass Check: %v", err)
	}
	if d.Hosts != 1000 || d.InstancesPerHost != 2 || d.Servers != 50 || d.SendPorts != 2000 || d.Stores != 200 || d.CertsPerStore != 10 || d.Faults != 0 {
		t.Errorf("Default() = %+v, not the size of the benchmark target", d)
	}
	q := d.Scale(0.25)
	if q.Hosts != 250 || q.SendPorts != 500 || q.Stores != d.Stores || q.Servers != d.Servers {
		t.Errorf("Default().Scale(0.25) = %+v", q)
	}
	for name, mutate := range map[string]func(*benchgen.Params){
		"no accounts":         func(p *benchgen.Params) { p.Stores = p.Servers },
		"too many instances":  func(p *benchgen.Params) { p.InstancesPerHost = p.Servers + 1 },
		"unused hosts":        func(p *benchgen.Params) { p.SendPorts = p.Hosts - 1 },
		"too many partners":   func(p *benchgen.Params) { p.Partners = p.CertsPerStore + 1 },
		"too many faults":     func(p *benchgen.Params) { p.Faults = p.Hosts + 1 },
		"no receive location": func(p *benchgen.Params) { p.ReceiveLocations = 0 },
	} {
		p := small()
		mutate(&p)
		if err := p.Check(); err == nil {
			t.Errorf("%s: Check accepts %+v", name, p)
		}
		if err := benchgen.Generate(t.TempDir(), p); err == nil {
			t.Errorf("%s: Generate accepts %+v", name, p)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.hcl"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := benchgen.Generate(dir, small()); err == nil {
		t.Error("Generate writes into a directory that is not empty")
	}
}
