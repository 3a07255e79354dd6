// Command etcd is the etcd server of the test cluster harness, built from
// go.etcd.io/etcd/server/v3 at the version Kubernetes itself depends on, so
// no distribution package is needed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
