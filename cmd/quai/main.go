// Command quai installs, updates, backs up and removes instances of
// multi-service web applications from one stack file.
package main

import (
	"os"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/serve"
	"github.com/quai-dev/quai/internal/proxyd/proxycmd"
	"github.com/quai-dev/quai/internal/runtime/process"
)

func main() {
	// The process runtime re-executes this binary as each replica's supervisor.
	if process.IsShim() {
		os.Exit(process.ShimMain())
	}
	os.Exit(cli.Main(os.Args[1:], serve.Command, proxycmd.Command))
}
