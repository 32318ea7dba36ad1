// Cluster DNS for the local cluster's real node (scripts/k8s/node.sh): CoreDNS
// with only the plugins its Corefile uses. CoreDNS's own main imports every
// plugin (core/plugin), which compiles the AWS, Azure and Google SDKs in; this
// one serves cluster.local from the API server and nothing else. There is no
// forward plugin on purpose: a name outside the cluster is never sent on.
package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
)

func main() {
	coremain.Run()
}
