package runner_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bizpipe/bizpipe/engine/runner"
)

// BenchmarkRunOnce is scripts/bench-run.sh in process: messages of 4 KiB,
// RSA-2048 clear sign + AES-256-CBC, file to file through the SQLite box,
// received, routed, signed, encrypted and delivered by one RunOnce with the
// engine's defaults (16 workers per CPU). It reports msgs/s; compare with
// BenchmarkSignEncrypt4KiB in engine/pipeline, the ceiling. Each iteration
// is one message; the box and directories are set up once per batch of
// b.N.
func BenchmarkRunOnce(b *testing.B) {
	p := newPKI(b)
	dir := setup(b, p, common+`
pipeline "clear_cbc" {
  encoder "smime" {
    signature            = "clear"
    digest               = "sha256"
    encrypt              = true
    encryption_algorithm = "aes256-cbc"
  }
}
send_port "fabrikam" {
  host                   = host.h
  pipeline               = pipeline.clear_cbc
  encryption_certificate = "{{.Partner}}"
  filter                 = message.properties.partner == "fabrikam"
  transport "file" {
    path      = "out"
    file_name = "${message.id}.eml"
  }
}
`, map[string]string{"Max": "1MiB"})
	body := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(rng.UintN(256))
	}
	for i := range b.N {
		put(b, dir, fmt.Sprintf("m%07d.edi", i), body)
	}
	r, _ := startWith(b, dir, func(o *runner.Options) { o.Workers = 0 }) // the engine's default
	b.ResetTimer()
	sum, err := r.RunOnce(context.Background())
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if sum.Delivered != b.N {
		b.Fatalf("summary %+v, want %d delivered", sum, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
