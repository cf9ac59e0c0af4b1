package nodeconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"sigs.k8s.io/yaml"
)

// hostsTOML is what containerd v2.2.9 reads of a hosts.toml (core/remotes/docker/config/hosts.go).
type hostsTOML struct {
	Server     string `toml:"server"`
	SkipVerify *bool  `toml:"skip_verify"`
	CA         any    `toml:"ca"`
	Host       map[string]struct {
		Capabilities []string `toml:"capabilities"`
		OverridePath bool     `toml:"override_path"`
		SkipVerify   *bool    `toml:"skip_verify"`
		CA           any      `toml:"ca"`
		Client       any      `toml:"client"`
	} `toml:"host"`
}

func hostsFor(t *testing.T, registriesYAML string) (map[string]string, []string) {
	t.Helper()
	var r registries
	if err := yaml.UnmarshalStrict([]byte(registriesYAML), &r); err != nil {
		t.Fatal(err)
	}
	files, summary, err := containerdHosts(&r)
	if err != nil {
		t.Fatal(err)
	}
	return files, summary
}

func parseHosts(t *testing.T, content string) hostsTOML {
	t.Helper()
	if !strings.HasPrefix(content, hostsHeader) {
		t.Errorf("no header:\n%s", content)
	}
	var h hostsTOML
	if err := toml.Unmarshal([]byte(content), &h); err != nil {
		t.Fatalf("not TOML: %v\n%s", err, content)
	}
	return h
}

func onlyFile(t *testing.T, files map[string]string, want string) hostsTOML {
	t.Helper()
	if len(files) != 1 || files[want] == "" {
		t.Fatalf("files %v, want only %s", keys(files), want)
	}
	return parseHosts(t, files[want])
}

func keys(m map[string]string) []string { return sortedKeys(m) }

func TestRegistriesPlainEndpoint(t *testing.T) {
	files, summary := hostsFor(t, `
mirrors:
  docker.io:
    endpoint: ["mirror.example.com"]
`)
	h := onlyFile(t, files, "docker.io/hosts.toml")
	if h.Server != "https://registry-1.docker.io" {
		t.Errorf("server %q", h.Server)
	}
	e, ok := h.Host["https://mirror.example.com/v2"]
	if !ok || len(h.Host) != 1 {
		t.Fatalf("hosts %v", h.Host)
	}
	if !reflect.DeepEqual(e.Capabilities, []string{"pull", "resolve"}) || e.OverridePath || e.SkipVerify != nil {
		t.Errorf("entry %+v", e)
	}
	want := "Registry docker.io: mirrors https://mirror.example.com/v2, then default endpoint https://registry-1.docker.io"
	if !reflect.DeepEqual(summary, []string{want}) {
		t.Errorf("summary %q, want %q", summary, want)
	}
}

func TestRegistriesHTTPEndpoint(t *testing.T) {
	files, _ := hostsFor(t, `
mirrors:
  registry.example.com:
    endpoint: ["http://mirror.invalid:5000", "localhost:5001", "https://mirror.example.com/v2/"]
`)
	h := onlyFile(t, files, "registry.example.com/hosts.toml")
	if h.Server != "https://registry.example.com" {
		t.Errorf("server %q", h.Server)
	}
	for _, u := range []string{"http://mirror.invalid:5000/v2", "http://localhost:5001/v2", "https://mirror.example.com/v2"} {
		if e, ok := h.Host[u]; !ok || e.OverridePath {
			t.Errorf("%s: %+v (%v)", u, e, ok)
		}
	}
	// The order of the [host] tables is the order containerd tries them in.
	c := files["registry.example.com/hosts.toml"]
	if a, b := strings.Index(c, "mirror.invalid"), strings.Index(c, "localhost:5001"); a < 0 || b < a {
		t.Errorf("endpoints out of order:\n%s", c)
	}
}

func TestRegistriesPrefixRewrite(t *testing.T) {
	// what lib/registry-mirror.ts writes for CHATSTACK_REGISTRY_MIRROR=docker.io=http://mirror.invalid:5000/dockerhub
	files, summary := hostsFor(t, `
mirrors:
  docker.io:
    endpoint: ["http://mirror.invalid:5000"]
    rewrite:
      "^(.*)$": "dockerhub/$1"
`)
	h := onlyFile(t, files, "docker.io/hosts.toml")
	e, ok := h.Host["http://mirror.invalid:5000/v2/dockerhub"]
	if !ok || !e.OverridePath || len(h.Host) != 1 {
		t.Fatalf("hosts %+v", h.Host)
	}
	if h.Server != "https://registry-1.docker.io" {
		t.Errorf("server %q", h.Server)
	}
	want := "Registry docker.io: mirrors http://mirror.invalid:5000/v2/dockerhub (override_path), then default endpoint https://registry-1.docker.io"
	if !reflect.DeepEqual(summary, []string{want}) {
		t.Errorf("summary %q", summary)
	}
	// A multi-level prefix, on an endpoint that has its own API root.
	files, _ = hostsFor(t, `
mirrors:
  ghcr.io:
    endpoint: ["https://harbor.example.com/api/root/"]
    rewrite:
      "^(.*)$": "proxy/ghcr/$1"
`)
	h = onlyFile(t, files, "ghcr.io/hosts.toml")
	if e, ok := h.Host["https://harbor.example.com/api/root/proxy/ghcr"]; !ok || !e.OverridePath {
		t.Errorf("hosts %+v", h.Host)
	}
}

func TestRegistriesEndpointPathIsAPIRoot(t *testing.T) {
	// k3s: an endpoint path other than "", / or /v2 is the API root, used as given.
	files, _ := hostsFor(t, `
mirrors:
  quay.io:
    endpoint: ["https://mirror.example.com/quay"]
`)
	h := onlyFile(t, files, "quay.io/hosts.toml")
	if e, ok := h.Host["https://mirror.example.com/quay"]; !ok || !e.OverridePath {
		t.Errorf("hosts %+v", h.Host)
	}
}

func TestRegistriesWildcard(t *testing.T) {
	files, summary := hostsFor(t, `
mirrors:
  "*":
    endpoint: ["http://mirror.invalid:5000"]
`)
	h := onlyFile(t, files, "_default/hosts.toml")
	if h.Server != "" {
		t.Errorf("server %q: the image's own registry is containerd's default for _default", h.Server)
	}
	if strings.Contains(files["_default/hosts.toml"], "\nserver") {
		t.Errorf("server line in\n%s", files["_default/hosts.toml"])
	}
	if _, ok := h.Host["http://mirror.invalid:5000/v2"]; !ok {
		t.Errorf("hosts %+v", h.Host)
	}
	if want := "Registry * (_default): mirrors http://mirror.invalid:5000/v2, then the image's own registry"; !reflect.DeepEqual(summary, []string{want}) {
		t.Errorf("summary %q", summary)
	}
}

func TestRegistriesUnsupportedRewrite(t *testing.T) {
	for name, rewrite := range map[string]string{
		"other pattern":   `"^library/(.*)$": "dockerhub/$1"`,
		"no prefix":       `"^(.*)$": "$1"`,
		"suffix":          `"^(.*)$": "$1/x"`,
		"regex in prefix": `"^(.*)$": "a(b)/$1"`,
		"two patterns":    "\"^(.*)$\": \"a/$1\"\n      \"^b/(.*)$\": \"c/$1\"",
	} {
		t.Run(name, func(t *testing.T) {
			var r registries
			y := "mirrors:\n  docker.io:\n    endpoint: [\"http://mirror.invalid:5000\"]\n    rewrite:\n      " + rewrite + "\n"
			if err := yaml.UnmarshalStrict([]byte(y), &r); err != nil {
				t.Fatal(err)
			}
			_, _, err := containerdHosts(&r)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range []string{`mirrors."docker.io".rewrite`, `"^(.*)$": "<prefix>/$1"`, "supported"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if name == "other pattern" && !strings.Contains(err.Error(), `"^library/(.*)$"`) {
				t.Errorf("error %q does not name the pattern", err)
			}
		})
	}
}

func TestRegistriesTLS(t *testing.T) {
	files, summary := hostsFor(t, `
mirrors:
  docker.io:
    endpoint: ["https://mirror.example.com:5443", "https://other.example.com"]
configs:
  mirror.example.com:5443:
    tls:
      insecure_skip_verify: true
      ca_file: /etc/ssl/mirror-ca.pem
  other.example.com:
    tls:
      cert_file: /etc/ssl/client.crt
      key_file: /etc/ssl/client.key
  private.example.com:
    tls:
      insecure_skip_verify: true
`)
	// as k3s: every host with TLS settings gets its own hosts.toml too (pulls straight from it)
	if !reflect.DeepEqual(keys(files), []string{"docker.io/hosts.toml", "mirror.example.com:5443/hosts.toml", "other.example.com/hosts.toml", "private.example.com/hosts.toml"}) {
		t.Fatalf("files %v", keys(files))
	}
	if own := parseHosts(t, files["mirror.example.com:5443/hosts.toml"]); own.Server != "https://mirror.example.com:5443" || own.SkipVerify == nil || !*own.SkipVerify {
		t.Errorf("mirror.example.com:5443 %+v", own)
	}
	h := parseHosts(t, files["docker.io/hosts.toml"])
	m := h.Host["https://mirror.example.com:5443/v2"]
	if m.SkipVerify == nil || !*m.SkipVerify || !reflect.DeepEqual(m.CA, []any{"/etc/ssl/mirror-ca.pem"}) {
		t.Errorf("mirror entry %+v", m)
	}
	o := h.Host["https://other.example.com/v2"]
	if o.SkipVerify != nil || o.CA != nil || !reflect.DeepEqual(o.Client, []any{[]any{"/etc/ssl/client.crt", "/etc/ssl/client.key"}}) {
		t.Errorf("other entry %+v", o)
	}
	if h.SkipVerify != nil {
		t.Errorf("the default endpoint got TLS settings: %+v", h)
	}
	// A registry with TLS settings and no mirror: its own server, at the top level.
	p := parseHosts(t, files["private.example.com/hosts.toml"])
	if p.Server != "https://private.example.com" || p.SkipVerify == nil || !*p.SkipVerify || len(p.Host) != 0 {
		t.Errorf("private.example.com %+v", p)
	}
	if !strings.Contains(strings.Join(summary, "\n"), "https://mirror.example.com:5443/v2 [skip_verify, ca /etc/ssl/mirror-ca.pem]") {
		t.Errorf("summary %q", summary)
	}
}

func TestRegistriesDefaultEndpointLastIsServer(t *testing.T) {
	files, _ := hostsFor(t, `
mirrors:
  docker.io:
    endpoint: ["http://mirror.invalid:5000", "https://registry-1.docker.io"]
`)
	h := onlyFile(t, files, "docker.io/hosts.toml")
	if len(h.Host) != 1 || h.Server != "https://registry-1.docker.io" {
		t.Errorf("%+v", h)
	}
}

func TestRegistriesNothingToWrite(t *testing.T) {
	files, summary := hostsFor(t, `
mirrors:
  docker.io: {}
configs:
  ghcr.io:
    auth: {username: u, password: p}
`)
	if len(files) != 0 {
		t.Errorf("files %v", keys(files))
	}
	if !reflect.DeepEqual(summary, []string{`Registry ghcr.io: credentials (containerd CRI registry.configs."ghcr.io".auth)`}) {
		t.Errorf("summary %q", summary)
	}
}

func TestRegistriesBadNames(t *testing.T) {
	for _, y := range []string{
		"mirrors:\n  ../etc:\n    endpoint: [\"https://m\"]\n",
		"mirrors:\n  docker.io:\n    endpoint: [\"ftp://m\"]\n",
		"mirrors:\n  docker.io:\n    endpoint: [\"https://user:pw@m\"]\n",
	} {
		var r registries
		if err := yaml.UnmarshalStrict([]byte(y), &r); err != nil {
			t.Fatal(err)
		}
		if _, _, err := containerdHosts(&r); err == nil {
			t.Errorf("no error for\n%s", y)
		}
	}
}

func TestCRIRegistryAuth(t *testing.T) {
	var r registries
	if err := yaml.UnmarshalStrict([]byte(`
configs:
  docker.io:
    auth: {username: "me", password: "p\"w"}
  ghcr.io:
    auth: {identity_token: "tok"}
`), &r); err != nil {
		t.Fatal(err)
	}
	got := criRegistryAuth(&r)
	var c struct {
		Plugins map[string]struct {
			Registry struct {
				Configs map[string]struct {
					Auth map[string]string `toml:"auth"`
				} `toml:"configs"`
			} `toml:"registry"`
		} `toml:"plugins"`
	}
	if err := toml.Unmarshal([]byte(got), &c); err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	cfgs := c.Plugins["io.containerd.cri.v1.images"].Registry.Configs
	if !reflect.DeepEqual(cfgs["registry-1.docker.io"].Auth, map[string]string{"username": "me", "password": `p"w`}) {
		t.Errorf("docker.io auth %+v\n%s", cfgs, got)
	}
	if !reflect.DeepEqual(cfgs["ghcr.io"].Auth, map[string]string{"identitytoken": "tok"}) {
		t.Errorf("ghcr.io auth %+v", cfgs)
	}
}

func TestReadRegistries(t *testing.T) {
	dir := t.TempDir()
	r, err := readRegistries(filepath.Join(dir, "missing.yaml"))
	if err != nil || len(r.Mirrors)+len(r.Configs) != 0 {
		t.Errorf("missing file: %+v, %v", r, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("mirrors:\n  docker.io:\n    endpoints: [\"https://m\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readRegistries(bad); err == nil || !strings.Contains(err.Error(), "endpoints") {
		t.Errorf("misspelt key: %v", err)
	}
}

func TestWriteRegistryConfig(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs.d")
	// left by an earlier start: a generated file (replaced) and a user's own (kept)
	for rel, content := range map[string]string{
		"old.example.com/hosts.toml":  hostsHeader + "server = \"https://old.example.com\"\n",
		"mine.example.com/hosts.toml": "server = \"https://mine.example.com\"\n",
	} {
		if err := os.MkdirAll(filepath.Join(certs, filepath.Dir(rel)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certs, rel), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	regFile := filepath.Join(dir, "registries.yaml")
	if err := os.WriteFile(regFile, []byte("mirrors:\n  docker.io:\n    endpoint: [\"http://mirror.invalid:5000\"]\n    rewrite:\n      \"^(.*)$\": \"dockerhub/$1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	section, summary, err := WriteRegistryConfig(regFile, certs, os.WriteFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(summary) != 1 || !strings.HasPrefix(summary[0], "Registry docker.io: ") {
		t.Errorf("log lines: %q", summary)
	}
	var c struct {
		Plugins map[string]struct {
			Registry struct {
				ConfigPath string `toml:"config_path"`
			} `toml:"registry"`
		} `toml:"plugins"`
	}
	if err := toml.Unmarshal([]byte(section), &c); err != nil || c.Plugins["io.containerd.cri.v1.images"].Registry.ConfigPath != certs {
		t.Errorf("%v: %s", err, section)
	}
	if _, err := os.Stat(filepath.Join(certs, "old.example.com")); !os.IsNotExist(err) {
		t.Errorf("stale generated hosts.toml kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(certs, "mine.example.com", "hosts.toml")); err != nil {
		t.Errorf("user's hosts.toml removed: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(certs, "docker.io", "hosts.toml"))
	if err != nil || !strings.Contains(string(b), "[host.\"http://mirror.invalid:5000/v2/dockerhub\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n") {
		t.Errorf("%v:\n%s", err, b)
	}
	// no registries.yaml: config_path alone, and the generated files go
	section, summary, err = WriteRegistryConfig(filepath.Join(dir, "none.yaml"), certs, os.WriteFile)
	if err != nil || !strings.Contains(section, "config_path") || strings.Contains(section, "auth") {
		t.Errorf("%v: %s", err, section)
	}
	if len(summary) != 1 || !strings.Contains(summary[0], "none configured") {
		t.Errorf("log lines without registries.yaml: %q", summary)
	}
	if _, err := os.Stat(filepath.Join(certs, "docker.io")); !os.IsNotExist(err) {
		t.Errorf("generated docker.io/hosts.toml kept without registries.yaml: %v", err)
	}
}
