package runner_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bizpipe/bizpipe/internal/cpubench"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// BenchmarkRunOnce is scripts/bench-run.sh in process: messages of 4 KiB,
// file to file through the SQLite box, received, routed, encoded and
// delivered by one RunOnce with the engine's defaults (16 workers per CPU).
// sign+encrypt is RSA-2048 clear sign + AES-256-CBC, to compare with
// BenchmarkSignEncrypt4KiB in internal/stage/smime, the ceiling; engine-alone is
// the same with an empty pipeline, the engine's own cost. Each reports
// msgs/s. Each iteration is one message; the box and directories are set
// up once per batch of b.N. Each also reports its CPU per message
// (cpu-µs/msg), the figure BenchmarkPrototype is compared on.
func BenchmarkRunOnce(b *testing.B) {
	b.Run("sign+encrypt", func(b *testing.B) {
		benchRunOnce(b, `
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
`)
	})
	// The engine alone (scripts/bench-run.sh's line (c)): receive, box,
	// routing and durable delivery, no crypto.
	b.Run("engine-alone", func(b *testing.B) {
		benchRunOnce(b, `
pipeline "empty" {}
send_port "fabrikam" {
  host     = host.h
  pipeline = pipeline.empty
  filter   = message.properties.partner == "fabrikam"
  transport "file" {
    path      = "out"
    file_name = "${message.id}.eml"
  }
}
`)
	})
}

// benchRunOnce runs one RunOnce over b.N messages of 4 KiB through the
// send port declared by port, and reports messages per second.
func benchRunOnce(b *testing.B, port string) {
	p := newPKI(b)
	dir := setup(b, p, common+port, map[string]string{"Max": "1MiB"})
	body := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(rng.UintN(256))
	}
	for i := range b.N {
		put(b, dir, fmt.Sprintf("m%07d.edi", i), body)
	}
	// The engine's defaults, as run --once has them: the tests' short
	// IdleWait (testOptions) would have each of the idle workers poll the
	// box every 20 ms, about 0.2 claims and 0.2 NextDue reads per message
	// at 2,000 msgs/s that run --once does not make (claims and NextDue
	// counted, 2,000 messages: 0.32 and 0.28 per message, against 0.12 and
	// 0.08 with the default). FileSettle stays short: the inputs are fresh.
	r, _ := startWith(b, dir, func(o *runner.Options) { o.Workers, o.IdleWait = 0, 0 })
	reportCPU := cpubench.Start(b, "msg")
	b.ResetTimer()
	sum, err := r.RunOnce(context.Background())
	b.StopTimer()
	reportCPU()
	if err != nil {
		b.Fatal(err)
	}
	if sum.Delivered != b.N {
		b.Fatalf("summary %+v, want %d delivered", sum, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
