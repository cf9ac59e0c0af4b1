package nodeconfig

// The HelmChartConfig of the traefik add-on. k3s deploys Traefik as a Helm chart, and its
// helm-controller merges a HelmChartConfig's spec.valuesContent (and spec.values) into the chart's
// values; users turn on the Gateway API provider that way, which k3s's chart leaves off
// (k3s-io/k3s#13977). There is no Helm here: before traefik.yaml is staged, the node reads the
// manifests directory for that HelmChartConfig, models the values it knows
// (providers.kubernetesGateway.enabled) as template data, and warns about the rest. Read at boot
// only: a HelmChartConfig changed later is not re-read (k3s would upgrade the release).
//
// helm.cattle.io's CRDs (HelmChart, HelmChartConfig) are installed as k3s installs them, so the
// file applies and `kubectl get helmchartconfig` works.

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// HelmCRDs: helmcharts.helm.cattle.io and helmchartconfigs.helm.cattle.io, as k3s's
// helm-controller registers them.
//
//go:embed crds/helm.cattle.io.yaml
var HelmCRDs []byte

// TraefikConfig is what the node models of the traefik add-on's HelmChartConfig.
type TraefikConfig struct {
	GatewayProvider bool   // providers.kubernetesGateway.enabled
	Source          string // the file the HelmChartConfig came from; "" when there is none
}

// gatewayEnabledPath is the one value modelled.
var gatewayEnabledPath = []string{"providers", "kubernetesGateway", "enabled"}

// ReadTraefikConfig looks through the manifests in dir (the files the node applies, in its
// order: ManifestFiles) for a HelmChartConfig named traefik in kube-system; the last one applied wins, as it would
// on the API server. It returns warnings for what it does not model, and an error when the
// HelmChartConfig's values cannot be parsed.
func ReadTraefikConfig(dir string) (TraefikConfig, []string, error) {
	var tc TraefikConfig
	var warnings []string
	var found []string
	for _, f := range ManifestFiles(dir) {
		b, err := os.ReadFile(f)
		if err != nil {
			return tc, warnings, err
		}
		if !bytes.Contains(b, []byte("HelmChartConfig")) {
			continue // most files (the CRDs above all): no need to parse them
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return tc, warnings, fmt.Errorf("%s: %w", f, err)
			}
			if !bytes.Contains(doc, []byte("HelmChartConfig")) {
				continue
			}
			var obj struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"metadata"`
				Spec map[string]interface{} `json:"spec"`
			}
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				return tc, warnings, fmt.Errorf("%s: %w", f, err)
			}
			if obj.Kind != "HelmChartConfig" || !strings.HasPrefix(obj.APIVersion, "helm.cattle.io/") || obj.Metadata.Name != "traefik" {
				continue
			}
			if obj.Metadata.Namespace != "kube-system" {
				warnings = append(warnings, fmt.Sprintf("HelmChartConfig traefik in %s is in namespace %q, not kube-system: it does not configure the traefik add-on (as on k3s)", f, obj.Metadata.Namespace))
				continue
			}
			values, w, err := helmChartConfigValues(obj.Spec)
			if err != nil {
				return tc, warnings, fmt.Errorf("HelmChartConfig kube-system/traefik in %s: %w", f, err)
			}
			found = append(found, f)
			tc = TraefikConfig{Source: f}
			if v, ok := lookup(values, gatewayEnabledPath); ok {
				if b, isBool := v.(bool); isBool {
					tc.GatewayProvider = b
				} else {
					w = append(w, fmt.Sprintf("%s is %v (%T), not a boolean: ignored", strings.Join(gatewayEnabledPath, "."), v, v))
				}
			}
			var other []string
			leaves(values, "", func(p string) {
				if p != strings.Join(gatewayEnabledPath, ".") {
					other = append(other, p)
				}
			})
			if len(other) > 0 {
				w = append(w, "values this node does not model, ignored: "+strings.Join(other, ", "))
			}
			for _, s := range w {
				warnings = append(warnings, fmt.Sprintf("HelmChartConfig kube-system/traefik in %s: %s", f, s))
			}
		}
	}
	if len(found) > 1 {
		warnings = append(warnings, fmt.Sprintf("HelmChartConfig kube-system/traefik is in %d files (%s): the last applied, %s, wins", len(found), strings.Join(found, ", "), tc.Source))
	}
	return tc, warnings, nil
}

// helmChartConfigValues merges spec.values over spec.valuesContent (helm-controller's precedence)
// and names the other spec fields, which the node does not model.
func helmChartConfigValues(spec map[string]interface{}) (map[string]interface{}, []string, error) {
	values := map[string]interface{}{}
	var warnings []string
	if vc, ok := spec["valuesContent"]; ok {
		s, isString := vc.(string)
		if !isString {
			return nil, nil, fmt.Errorf("spec.valuesContent is %T, not a string", vc)
		}
		if err := yaml.Unmarshal([]byte(s), &values); err != nil {
			return nil, nil, fmt.Errorf("spec.valuesContent: %w", err)
		}
		if values == nil {
			values = map[string]interface{}{}
		}
	}
	if v, ok := spec["values"]; ok && v != nil {
		m, isMap := v.(map[string]interface{})
		if !isMap {
			return nil, nil, fmt.Errorf("spec.values is %T, not a map", v)
		}
		mergeValues(values, m)
	}
	var other []string
	for k := range spec {
		if k != "valuesContent" && k != "values" {
			other = append(other, "spec."+k)
		}
	}
	sort.Strings(other)
	if len(other) > 0 {
		warnings = append(warnings, "fields this node does not model, ignored: "+strings.Join(other, ", "))
	}
	return values, warnings, nil
}

// mergeValues merges src into dst as Helm merges values files: maps recursively, anything else replaced.
func mergeValues(dst, src map[string]interface{}) {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func lookup(m map[string]interface{}, path []string) (interface{}, bool) {
	var cur interface{} = m
	for _, k := range path {
		mm, ok := cur.(map[string]interface{})
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// leaves calls f with the dotted path of every leaf of m (lists and empty maps are leaves), sorted.
func leaves(m map[string]interface{}, prefix string, f func(string)) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if sub, ok := m[k].(map[string]interface{}); ok && len(sub) > 0 {
			leaves(sub, p, f)
		} else {
			f(p)
		}
	}
}
