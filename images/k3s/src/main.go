// Command k3s is a multi-call binary: a small k3s-compatible single-node
// Kubernetes built from upstream Go modules only. It dispatches on the name it
// was invoked as (symlinks) or on its first argument, like hyperkube/k3s.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	_ "time/tzdata"

	"go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/restclient"
	_ "k8s.io/component-base/metrics/prometheus/version"
	_ "k8s.io/component-base/metrics/prometheus/workqueue"
	k8sversion "k8s.io/component-base/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args
	if name == "k3s" && len(args) > 1 {
		name = args[1]
		args = args[1:]
	}
	os.Args = args
	switch name {
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kubelet":
		os.Exit(cli.Run(kubelet.NewKubeletCommand(context.Background())))
	case "kube-proxy":
		os.Exit(cli.Run(proxy.NewProxyCommand()))
	case "kubectl":
		logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) //nolint:errcheck
		if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
	case "etcd":
		etcdmain.Main(args)
	case "server":
		os.Exit(runServer(args[1:]))
	case "ctr":
		// `k3s ctr ...` talks to this node's containerd, like k3s.
		if os.Getenv("CONTAINERD_ADDRESS") == "" {
			os.Setenv("CONTAINERD_ADDRESS", containerdSock)
		}
		if err := syscall.Exec("/bin/ctr", append([]string{"ctr"}, args[1:]...), os.Environ()); err != nil {
			fmt.Fprintf(os.Stderr, "k3s ctr: %v\n", err)
			os.Exit(1)
		}
	case "oci-archive":
		if err := ociArchive(args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "k3s oci-archive: %v\n", err)
			os.Exit(1)
		}
	case "--version", "version", "-v":
		fmt.Printf("k3s version %s (chatstack k3s-compatible build)\n", k8sversion.Get().GitVersion)
		fmt.Printf("go version %s\n", runtime.Version())
	default:
		fmt.Fprintf(os.Stderr, "usage: k3s {server|kubectl|ctr|oci-archive|version|etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy} ...\n")
		os.Exit(2)
	}
}
