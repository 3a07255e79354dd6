// Command gen writes quai's command reference: docs/cli.md with -md, man
// pages with -man. `make docs` and `make man` run it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/clidocs"
	"github.com/quai-dev/quai/internal/daemon/serve"
	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/proxyd/proxycmd"
	"github.com/quai-dev/quai/internal/version"
)

func main() {
	md := flag.String("md", "", "write the Markdown reference to this file")
	man := flag.String("man", "", "write man pages into this directory")
	flag.Parse()
	if *md == "" && *man == "" {
		fmt.Fprintln(os.Stderr, "usage: gen -md docs/cli.md | -man build/man")
		os.Exit(2)
	}
	clidocs.ClearEnv()
	if err := run(*md, *man); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(md, man string) error {
	if md != "" {
		var b bytes.Buffer
		if err := clidocs.Markdown(&b, cli.Command(serve.Command, proxycmd.Command)); err != nil {
			return err
		}
		if err := fsutil.WriteFile(md, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if man != "" {
		if err := os.MkdirAll(man, 0o755); err != nil {
			return err
		}
		if err := clidocs.Man(man, cli.Command(serve.Command, proxycmd.Command), version.Get().String()); err != nil {
			return err
		}
	}
	return nil
}
