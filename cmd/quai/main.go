// Command quai installs, updates, backs up and removes instances of
// multi-service web applications from one stack file.
package main

import (
	"os"

	"github.com/quai-dev/quai/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
