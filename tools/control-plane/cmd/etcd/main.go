// etcd for the test suite's control plane: the etcd server binary, built from the
// go.etcd.io/etcd/server/v3 module (what etcd's own main package does).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
