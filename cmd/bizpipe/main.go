// Command bizpipe validates and runs BizTalk-style S/MIME send pipelines
// declared in HCL. The contract is ../shared/spec/language.md §8.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}
