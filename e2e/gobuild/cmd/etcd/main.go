// Command etcd is a thin wrapper around etcd's own entry point so that a
// pinned etcd server can be built from the Go module proxy alone.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
