package nodeconfig

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The file k3s users (and the harness, dev/lib/cluster.ts) put in the manifests directory.
const gatewayOn = `apiVersion: helm.cattle.io/v1
kind: HelmChartConfig
metadata:
  name: traefik
  namespace: kube-system
spec:
  valuesContent: |-
    providers:
      kubernetesGateway:
        enabled: true
`

type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// stagedTraefik renders the add-ons with the node's defaults and returns traefik.yaml's objects
// (every add-on file must be valid YAML) and its text.
func stagedTraefik(t *testing.T, tc TraefikConfig) ([]object, string) {
	t.Helper()
	v := AddonValues{
		ClusterDNS: "10.43.0.10", ClusterDomain: "cluster.local", NodeIP: "172.17.0.2", NodeName: "node",
		StoragePath: "/var/lib/rancher/k3s/storage", CorednsImage: "c", LocalPathImage: "l", HelperImage: "h",
		MetricsServerImage: "m", TraefikImage: "t", GatewayProvider: tc.GatewayProvider,
	}
	for _, f := range sortedKeys(Addons) {
		b, err := RenderAddon(f, v)
		if err != nil {
			t.Fatal(err)
		}
		docs := yamlDocs(t, b)
		if f == "traefik.yaml" {
			var objs []object
			for _, d := range docs {
				var o object
				if err := yaml.Unmarshal(d, &o); err != nil {
					t.Fatal(err)
				}
				objs = append(objs, o)
			}
			return objs, string(b)
		}
	}
	t.Fatal("no traefik.yaml staged")
	return nil, ""
}

func yamlDocs(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		d, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatal(err)
		}
		var v map[string]interface{}
		if err := yaml.Unmarshal(d, &v); err != nil {
			t.Fatalf("invalid YAML: %v\n%s", err, d)
		}
		if v != nil {
			docs = append(docs, d)
		}
	}
}

func kinds(objs []object) map[string]bool {
	m := map[string]bool{}
	for _, o := range objs {
		m[o.Kind+"/"+o.Metadata.Name] = true
	}
	return m
}

func TestTraefikDefaultHasNoGatewayProvider(t *testing.T) {
	objs, text := stagedTraefik(t, TraefikConfig{})
	k := kinds(objs)
	for _, want := range []string{"Deployment/traefik", "Service/traefik", "IngressClass/traefik", "ClusterRole/traefik-kube-system"} {
		if !k[want] {
			t.Errorf("no %s in %v", want, k)
		}
	}
	if k["GatewayClass/traefik"] || k["Gateway/traefik-gateway"] {
		t.Errorf("Gateway objects without the provider: %v", k)
	}
	var body []string // the header comment explains the provider: not the objects
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "#") {
			body = append(body, l)
		}
	}
	for _, no := range []string{"kubernetesgateway", "gateway.networking.k8s.io"} {
		if strings.Contains(strings.ToLower(strings.Join(body, "\n")), no) {
			t.Errorf("traefik.yaml mentions %s without the provider", no)
		}
	}
	if !strings.Contains(text, "--providers.kubernetesingress=true") {
		t.Error("no Ingress provider")
	}
}

func TestTraefikGatewayProviderRendered(t *testing.T) {
	objs, text := stagedTraefik(t, TraefikConfig{GatewayProvider: true})
	k := kinds(objs)
	if !k["GatewayClass/traefik"] || !k["Gateway/traefik-gateway"] || !k["Deployment/traefik"] {
		t.Errorf("objects %v", k)
	}
	for _, want := range []string{"- --providers.kubernetesgateway=true\n", "statusaddress.service.name=traefik", "resources: [backendtlspolicies, gatewayclasses, gateways"} {
		if !strings.Contains(text, want) {
			t.Errorf("traefik.yaml lacks %q", want)
		}
	}
}

func writeManifest(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReadTraefikConfig(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		dir := t.TempDir()
		writeManifest(t, dir, "other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
		tc, w, err := ReadTraefikConfig(dir)
		if err != nil || tc.GatewayProvider || tc.Source != "" || len(w) != 0 {
			t.Errorf("%+v %q %v", tc, w, err)
		}
	})
	t.Run("gateway on", func(t *testing.T) {
		dir := t.TempDir()
		writeManifest(t, dir, "traefik-config.yaml", gatewayOn)
		tc, w, err := ReadTraefikConfig(dir)
		if err != nil || !tc.GatewayProvider || tc.Source != filepath.Join(dir, "traefik-config.yaml") || len(w) != 0 {
			t.Errorf("%+v %q %v", tc, w, err)
		}
	})
	t.Run("skipped", func(t *testing.T) {
		dir := t.TempDir()
		writeManifest(t, dir, "traefik-config.yaml", gatewayOn)
		writeManifest(t, dir, "traefik-config.yaml.skip", "")
		if tc, _, err := ReadTraefikConfig(dir); err != nil || tc.GatewayProvider {
			t.Errorf("%+v %v", tc, err)
		}
	})
	t.Run("among other documents, with values not modelled", func(t *testing.T) {
		dir := t.TempDir()
		writeManifest(t, dir, "extra.yml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"+strings.Replace(gatewayOn,
			"        enabled: true\n", "        enabled: true\n        experimentalChannel: true\n    logs:\n      general:\n        level: DEBUG\n    ports: [1, 2]\n", 1)+
			"  failurePolicy: abort\n")
		tc, w, err := ReadTraefikConfig(dir)
		if err != nil || !tc.GatewayProvider {
			t.Fatalf("%+v %v", tc, err)
		}
		all := strings.Join(w, "\n")
		for _, want := range []string{"logs.general.level", "providers.kubernetesGateway.experimentalChannel", "ports", "spec.failurePolicy"} {
			if !strings.Contains(all, want) {
				t.Errorf("warnings %q do not name %s", w, want)
			}
		}
		if strings.Contains(all, "kubernetesGateway.enabled") {
			t.Errorf("the modelled value is warned about: %q", w)
		}
	})
	t.Run("spec.values over valuesContent", func(t *testing.T) {
		dir := t.TempDir()
		writeManifest(t, dir, "traefik-config.yaml", gatewayOn+"  values:\n    providers:\n      kubernetesGateway:\n        enabled: false\n")
		if tc, _, err := ReadTraefikConfig(dir); err != nil || tc.GatewayProvider || tc.Source == "" {
			t.Errorf("%+v %v", tc, err)
		}
	})
	t.Run("last applied wins", func(t *testing.T) {
		dir := t.TempDir()
		writeManifest(t, dir, "a.yaml", gatewayOn)
		writeManifest(t, dir, "b.yaml", strings.Replace(gatewayOn, "enabled: true", "enabled: false", 1))
		tc, w, err := ReadTraefikConfig(dir)
		if err != nil || tc.GatewayProvider || len(w) != 1 || !strings.Contains(w[0], "2 files") {
			t.Errorf("%+v %q %v", tc, w, err)
		}
	})
	t.Run("other namespace", func(t *testing.T) {
		dir := t.TempDir()
		writeManifest(t, dir, "traefik-config.yaml", strings.Replace(gatewayOn, "namespace: kube-system", "namespace: default", 1))
		tc, w, err := ReadTraefikConfig(dir)
		if err != nil || tc.GatewayProvider || len(w) != 1 || !strings.Contains(w[0], `"default"`) {
			t.Errorf("%+v %q %v", tc, w, err)
		}
	})
	t.Run("not a boolean", func(t *testing.T) {
		dir := t.TempDir()
		writeManifest(t, dir, "traefik-config.yaml", strings.Replace(gatewayOn, "enabled: true", "enabled: yes-please", 1))
		tc, w, err := ReadTraefikConfig(dir)
		if err != nil || tc.GatewayProvider || len(w) != 1 || !strings.Contains(w[0], "not a boolean") {
			t.Errorf("%+v %q %v", tc, w, err)
		}
	})
	t.Run("invalid valuesContent", func(t *testing.T) {
		dir := t.TempDir()
		writeManifest(t, dir, "traefik-config.yaml", strings.Replace(gatewayOn, "        enabled: true", "      enabled: [true", 1))
		if _, _, err := ReadTraefikConfig(dir); err == nil || !strings.Contains(err.Error(), "spec.valuesContent") {
			t.Errorf("error %v", err)
		}
	})
}

func TestHelmCRDs(t *testing.T) {
	docs := yamlDocs(t, HelmCRDs)
	var names []string
	for _, d := range docs {
		var crd struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Group    string `json:"group"`
				Scope    string `json:"scope"`
				Versions []struct {
					Name         string                 `json:"name"`
					Served       bool                   `json:"served"`
					Storage      bool                   `json:"storage"`
					Subresources map[string]interface{} `json:"subresources"`
					Schema       struct {
						OpenAPIV3Schema struct {
							Properties map[string]map[string]interface{} `json:"properties"`
						} `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(d, &crd); err != nil {
			t.Fatal(err)
		}
		names = append(names, crd.Metadata.Name)
		v := crd.Spec.Versions
		if crd.Spec.Group != "helm.cattle.io" || crd.Spec.Scope != "Namespaced" || len(v) != 1 || v[0].Name != "v1" || !v[0].Served || !v[0].Storage {
			t.Errorf("%s: %+v", crd.Metadata.Name, crd.Spec)
		}
		if len(v) == 1 && v[0].Schema.OpenAPIV3Schema.Properties["spec"]["x-kubernetes-preserve-unknown-fields"] != true {
			t.Errorf("%s: spec does not keep unknown fields", crd.Metadata.Name)
		}
		if crd.Metadata.Name == "helmcharts.helm.cattle.io" && (len(v) != 1 || v[0].Subresources["status"] == nil) {
			t.Errorf("HelmChart has no status subresource")
		}
	}
	if strings.Join(names, ",") != "helmcharts.helm.cattle.io,helmchartconfigs.helm.cattle.io" {
		t.Errorf("CRDs %v", names)
	}
}
