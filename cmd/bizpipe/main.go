// Command bizpipe validates and runs BizTalk-style S/MIME send pipelines
// declared in HCL. Its reference, docs/cli.md, is generated from this
// command tree (TestDocs).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}
