// Command benchgen writes a generated bizpipe configuration for benchmarks:
//
//	go run ./internal/benchgen/cmd/benchgen [-scale F] [-faults N] DIR
//
// DIR must be empty or not exist. Without flags it writes the
// BenchmarkValidate configuration (benchgen.Default): 1,000 hosts with 2
// instances each on 50 servers, 2,000 send ports and 200 certificate stores
// of about 10 certificates each, which validates clean.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/bizpipe/bizpipe/internal/benchgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
}

func run() error {
	p := benchgen.Default()
	scale := flag.Float64("scale", 1, "multiply hosts and send ports by `F`")
	flag.IntVar(&p.Hosts, "hosts", p.Hosts, "number of hosts (before -scale)")
	flag.IntVar(&p.InstancesPerHost, "instances", p.InstancesPerHost, "instances per host")
	flag.IntVar(&p.Servers, "servers", p.Servers, "number of servers")
	flag.IntVar(&p.SendPorts, "ports", p.SendPorts, "number of send ports (before -scale)")
	flag.IntVar(&p.Stores, "stores", p.Stores, "number of certificate stores (one per server, the rest personal stores)")
	flag.IntVar(&p.CertsPerStore, "certs", p.CertsPerStore, "certificates per store")
	flag.IntVar(&p.PKCS12Every, "pkcs12-every", p.PKCS12Every, "every `N`th personal store holds its signing key in a PKCS#12 file (0: none)")
	flag.IntVar(&p.Faults, "faults", p.Faults, "number of deliberate errors")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: benchgen [flags] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	p = p.Scale(*scale)
	start := time.Now()
	if err := benchgen.Generate(flag.Arg(0), p); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchgen: wrote %d hosts x %d instances, %d servers, %d send ports, %d stores x ~%d certificates to %s in %s (expected errors: %v)\n",
		p.Hosts, p.InstancesPerHost, p.Servers, p.SendPorts, p.Stores, p.CertsPerStore, flag.Arg(0), time.Since(start).Round(time.Millisecond), p.Expected())
	return nil
}
