// Package nodeconfig is what the node makes of its configuration files, kept apart from package
// main so that its unit tests build without Kubernetes (the main package links all of it): the
// add-on manifests and their values, the traefik add-on's HelmChartConfig, and registries.yaml
// turned into containerd's hosts.toml files.
package nodeconfig

import (
	"bytes"
	"embed"
	"os"
	"path/filepath"
	"sort"
	"text/template"
)

//go:embed manifests/*.yaml
var manifestFS embed.FS

// Addons maps each built-in add-on file to the --disable key that drops it ("" cannot be disabled).
var Addons = map[string]string{
	"rbac.yaml":           "",
	"coredns.yaml":        "coredns",
	"local-storage.yaml":  "local-storage",
	"metrics-server.yaml": "metrics-server",
	"traefik.yaml":        "traefik",
}

// AddonValues fills the add-on templates (manifests/*.yaml).
type AddonValues struct {
	ClusterDNS, ClusterDomain, NodeIP, NodeName, StoragePath                    string
	CorednsImage, LocalPathImage, HelperImage, MetricsServerImage, TraefikImage string
	GatewayProvider                                                             bool // TraefikConfig.GatewayProvider
}

// RenderAddon renders one add-on file (a key of Addons) with v.
func RenderAddon(file string, v AddonValues) ([]byte, error) {
	src, err := manifestFS.ReadFile("manifests/" + file)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New(file).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ManifestFiles lists the manifests in dir in the order the node applies them: rbac.yaml first,
// then by name; a file with a sibling "<name>.skip" is left out.
func ManifestFiles(dir string) []string {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml", "*.json"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	sort.Slice(files, func(i, j int) bool {
		ri, rj := filepath.Base(files[i]) == "rbac.yaml", filepath.Base(files[j]) == "rbac.yaml"
		if ri != rj {
			return ri
		}
		return files[i] < files[j]
	})
	kept := files[:0]
	for _, f := range files {
		if _, err := os.Stat(f + ".skip"); err == nil {
			continue
		}
		kept = append(kept, f)
	}
	return kept
}
