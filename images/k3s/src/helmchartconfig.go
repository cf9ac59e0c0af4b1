package main

import (
	"fmt"
	"time"

	"chatstack.local/k3s/nodeconfig"
)

// applyHelmCRDs installs helm.cattle.io's CRDs and waits until they are established, so that a
// HelmChartConfig among the manifests applies on the first try.
func applyHelmCRDs(self, kubeconfig string) error {
	out, err := runStdin(nodeconfig.HelmCRDs, self, "kubectl", "--kubeconfig", kubeconfig, "apply", "--server-side", "--force-conflicts",
		"--field-manager=k3s", "-f", "-")
	if err != nil {
		return fmt.Errorf("apply helm.cattle.io CRDs: %v: %s", err, out)
	}
	out, err = run(self, "kubectl", "--kubeconfig", kubeconfig, "wait", "--for=condition=Established",
		"--timeout="+(30*time.Second).String(), "crd/helmcharts.helm.cattle.io", "crd/helmchartconfigs.helm.cattle.io")
	if err != nil {
		return fmt.Errorf("wait for helm.cattle.io CRDs: %v: %s", err, out)
	}
	return nil
}
