package main

// k3s-style command line of `server`, plus /etc/rancher/k3s/config.yaml.
//
// Supported: the flags below. Flags of real k3s that have no meaning here (cluster joining,
// flannel, helm, secrets encryption, ...) are accepted with a warning so that command lines
// written for k3s keep working; anything else is an error.

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

type config struct {
	dataDir          string
	kubeconfigOut    string
	kubeconfigMode   string
	disable          map[string]bool
	tlsSANs          []string
	clusterCIDR      string
	serviceCIDR      string
	clusterDNS       string
	clusterDomain    string
	nodeName         string
	nodeIP           string
	nodeExternalIP   string
	httpsPort        string
	pauseImage       string
	nodeLabels       []string
	nodeTaints       []string
	disableNetpol    bool
	disableKubeProxy bool
	localStoragePath string
	privateRegistry  string // registries.yaml (registries.go); optional
	debug            bool
	extra            map[string][]string // component -> extra "--k=v" args
	warnings         []string
}

var listFlags = map[string]string{
	"disable": "", "tls-san": "", "node-label": "", "node-taint": "",
	"kubelet-arg": "kubelet", "kube-apiserver-arg": "kube-apiserver",
	"kube-controller-manager-arg": "kube-controller-manager", "kube-scheduler-arg": "kube-scheduler",
	"kube-proxy-arg": "kube-proxy", "etcd-arg": "etcd", "kube-controller-arg": "kube-controller-manager",
}

var boolFlags = map[string]bool{
	"disable-network-policy": true, "disable-kube-proxy": true, "debug": true,
	// accepted and ignored
	"disable-cloud-controller": true, "disable-helm-controller": true, "cluster-init": true,
	"secrets-encryption": true, "protect-kernel-defaults": true, "selinux": true,
	"rootless": true, "prefer-bundled-bin": true, "disable-apiserver": true,
	"disable-scheduler": true, "disable-controller-manager": true, "disable-etcd": true,
	"embedded-registry": true, "supervisor-metrics": true, "flannel-ipv6-masq": true,
	"flannel-external-ip": true, "egress-selector-mode-disabled": true, "docker": true,
}

var scalarFlags = map[string]bool{
	"data-dir": true, "write-kubeconfig": true, "write-kubeconfig-mode": true,
	"cluster-cidr": true, "service-cidr": true, "cluster-dns": true, "cluster-domain": true,
	"node-name": true, "node-ip": true, "node-external-ip": true, "https-listen-port": true,
	"pause-image": true, "default-local-storage-path": true, "snapshotter": true,
	"flannel-backend": true, "token": true, "agent-token": true, "token-file": true,
	"server": true, "bind-address": true, "advertise-address": true, "advertise-port": true,
	"egress-selector-mode": true, "log": true, "alsologtostderr": true, "v": true,
	"vmodule": true, "service-node-port-range": true, "cluster-reset": true,
	"etcd-snapshot-schedule-cron": true, "etcd-snapshot-retention": true, "system-default-registry": true,
	"container-runtime-endpoint": true, "private-registry": true, "resolv-conf": true,
	"kube-proxy-mode": true, "config": true,
}

var shortFlags = map[string]string{"d": "data-dir", "o": "write-kubeconfig", "i": "node-ip", "t": "token", "c": "config"}

func defaultConfig() *config {
	return &config{
		dataDir:         "/var/lib/rancher/k3s",
		kubeconfigOut:   "/etc/rancher/k3s/k3s.yaml",
		disable:         map[string]bool{},
		clusterCIDR:     "10.42.0.0/16",
		serviceCIDR:     "10.43.0.0/16",
		clusterDNS:      "10.43.0.10",
		clusterDomain:   "cluster.local",
		httpsPort:       "6443",
		privateRegistry: "/etc/rancher/k3s/registries.yaml",
		extra:           map[string][]string{},
	}
}

type kv struct{ k, v string }

// configFileArgs turns /etc/rancher/k3s/config.yaml (a flat map; lists allowed) into flags.
func configFileArgs(path string) ([]kv, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var m map[string]interface{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []kv
	for _, k := range keys {
		switch v := m[k].(type) {
		case []interface{}:
			for _, e := range v {
				out = append(out, kv{strings.TrimSuffix(k, "+"), fmt.Sprint(e)})
			}
		case bool:
			out = append(out, kv{k, fmt.Sprint(v)})
		default:
			out = append(out, kv{k, fmt.Sprint(v)})
		}
	}
	return out, nil
}

func parseArgs(args []string) (*config, error) {
	c := defaultConfig()
	var pairs []kv
	cfgPath := "/etc/rancher/k3s/config.yaml"
	for i, a := range args {
		if a == "--config" || a == "-c" {
			if i+1 < len(args) {
				cfgPath = args[i+1]
			}
		} else if strings.HasPrefix(a, "--config=") {
			cfgPath = strings.TrimPrefix(a, "--config=")
		}
	}
	if env := os.Getenv("K3S_CONFIG_FILE"); env != "" {
		cfgPath = env
	}
	fromFile, err := configFileArgs(cfgPath)
	if err != nil {
		return nil, err
	}
	pairs = append(pairs, fromFile...)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("unexpected argument %q", a)
		}
		name := strings.TrimLeft(a, "-")
		val, hasVal := "", false
		if j := strings.IndexByte(name, '='); j >= 0 {
			name, val, hasVal = name[:j], name[j+1:], true
		}
		if long, ok := shortFlags[name]; ok {
			name = long
		}
		if boolFlags[name] {
			if !hasVal {
				val = "true"
			}
		} else if _, ok := listFlags[name]; ok || scalarFlags[name] {
			if !hasVal {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag --%s needs a value", name)
				}
				i++
				val = args[i]
			}
		} else {
			return nil, fmt.Errorf("unknown flag --%s", name)
		}
		pairs = append(pairs, kv{name, val})
	}
	for _, p := range pairs {
		if err := c.set(p.k, p.v); err != nil {
			return nil, err
		}
	}
	if env := os.Getenv("K3S_KUBECONFIG_OUTPUT"); env != "" {
		c.kubeconfigOut = env
	}
	if env := os.Getenv("K3S_KUBECONFIG_MODE"); env != "" {
		c.kubeconfigMode = env
	}
	if env := os.Getenv("K3S_NODE_NAME"); env != "" && c.nodeName == "" {
		c.nodeName = env
	}
	return c, nil
}

func splitComma(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (c *config) set(k, v string) error {
	if comp := listFlags[k]; comp != "" {
		if !strings.Contains(v, "=") {
			v += "=true"
		}
		c.extra[comp] = append(c.extra[comp], "--"+strings.TrimLeft(v, "-"))
		return nil
	}
	switch k {
	case "disable":
		for _, d := range splitComma(v) {
			c.disable[d] = true
		}
	case "tls-san":
		c.tlsSANs = append(c.tlsSANs, splitComma(v)...)
	case "node-label":
		c.nodeLabels = append(c.nodeLabels, v)
	case "node-taint":
		c.nodeTaints = append(c.nodeTaints, v)
	case "data-dir":
		c.dataDir = v
	case "write-kubeconfig":
		c.kubeconfigOut = v
	case "write-kubeconfig-mode":
		c.kubeconfigMode = v
	case "cluster-cidr":
		c.clusterCIDR = v
	case "service-cidr":
		c.serviceCIDR = v
	case "cluster-dns":
		c.clusterDNS = v
	case "cluster-domain":
		c.clusterDomain = v
	case "node-name":
		c.nodeName = v
	case "node-ip":
		c.nodeIP = v
	case "node-external-ip":
		c.nodeExternalIP = v
	case "https-listen-port":
		c.httpsPort = v
	case "pause-image":
		c.pauseImage = v
	case "default-local-storage-path":
		c.localStoragePath = v
	case "private-registry":
		c.privateRegistry = v
	case "disable-network-policy":
		c.disableNetpol = v == "true"
	case "disable-kube-proxy":
		c.disableKubeProxy = v == "true"
	case "debug":
		c.debug = v == "true"
	case "snapshotter":
		if v != "overlayfs" {
			return fmt.Errorf("--snapshotter=%s: only overlayfs is built in", v)
		}
	case "flannel-backend":
		if v != "none" && v != "vxlan" {
			c.warnings = append(c.warnings, fmt.Sprintf("--flannel-backend=%s ignored: this node uses the bridge CNI plugin", v))
		}
	case "config":
	default:
		c.warnings = append(c.warnings, fmt.Sprintf("--%s=%s accepted for compatibility and ignored", k, v))
	}
	return nil
}
