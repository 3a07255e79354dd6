// Command testapp is the conformance suite's test app (runtimetest.AppMain)
// built as a static binary for a FROM scratch image, with one more command
// for the network tests of the runtimes:
//
//	dial HOST:PORT   exit 0 when a TCP connection opens within 3 s, else 1
package main

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/quai-dev/quai/internal/runtime/runtimetest"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "dial" {
		c, err := net.DialTimeout("tcp", os.Args[2], 3*time.Second) //nolint:gosec // a test app dialing what its test names
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = c.Close()
		fmt.Println("connected")
		os.Exit(0)
	}
	runtimetest.AppMain()
}
