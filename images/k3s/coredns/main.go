// CoreDNS v1.14.7 with the plugins the node's Corefile (src/manifests/coredns.yaml) and k3s's
// own Corefile use, the custom build CoreDNS documents (plugin.cfg) without its `go generate`
// step: coremain and the same plugin packages, registered in plugin.cfg's order. The full build
// also compiles the cloud DNS back ends (AWS, Azure, Google), tracing and the rest: 1,376 packages
// against 795 here, 131 s against 86 s from an empty Go cache on 2 cores.
// images/k3s/coredns.test.ts checks that every directive of the Corefile is registered here.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func init() {
	// The order in which a query meets the plugins: plugin.cfg's, which core/dnsserver/zdirectives.go
	// holds in the full build ("prometheus" is the metrics package's directive).
	dnsserver.Directives = []string{
		"reload", "ready", "health", "prometheus", "errors", "log",
		"loadbalance", "cache", "hosts", "kubernetes", "loop", "forward",
	}
}

func main() { coremain.Run() }
