// Command pause is the pod sandbox's process in the test cluster (the role
// of registry.k8s.io/pause, which cannot be pulled here): it holds the pod's
// namespaces until it is told to stop.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
