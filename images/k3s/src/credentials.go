package main

// The node's PKI: the certificate authorities, the components' leaf certificates and
// kubeconfigs, and the admin kubeconfig written where --write-kubeconfig says.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

type authorities struct {
	server, client, requestHeader, etcd *ca
}

// writeCredentials loads (or creates) the CAs and the service account key, issues every leaf
// certificate and component kubeconfig, and writes the admin kubeconfig to --write-kubeconfig.
func writeCredentials(n *node) error {
	cas, err := loadAuthorities(n.p)
	if err != nil {
		return fmt.Errorf("certificate authorities: %w", err)
	}
	if err := serviceAccountKey(n.p.tls); err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	if err := issueLeafCerts(n, cas); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	if err := writeComponentKubeconfigs(n, cas); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	if err := writeKubeconfigOut(n.adminKubeconfig(), n.cfg); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", n.cfg.kubeconfigOut, err)
	}
	infof("Wrote kubeconfig %s", n.cfg.kubeconfigOut)
	return nil
}

func loadAuthorities(p paths) (*authorities, error) {
	var a authorities
	var err error
	if a.server, err = loadOrCreateCA(p.tls, "server-ca", "k3s-server-ca"); err != nil {
		return nil, err
	}
	if a.client, err = loadOrCreateCA(p.tls, "client-ca", "k3s-client-ca"); err != nil {
		return nil, err
	}
	if a.requestHeader, err = loadOrCreateCA(p.tls, "request-header-ca", "k3s-request-header-ca"); err != nil {
		return nil, err
	}
	if a.etcd, err = loadOrCreateCA(p.etcdTLS, "server-ca", "etcd-server-ca"); err != nil {
		return nil, err
	}
	return &a, nil
}

var loopback = []net.IP{net.ParseIP("127.0.0.1").To4()}

// apiServerSANs are the names the API server's certificate covers: loopback, the kubernetes
// Service, every local IPv4 address, the node, and --tls-san / --node-external-ip.
func apiServerSANs(n *node) (dns []string, ips []net.IP) {
	ips = append(append([]net.IP{}, loopback...), n.apiSvcIP)
	ips = append(ips, allIPv4()...)
	ips = append(ips, n.ip)
	dns = []string{"localhost", n.name, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc." + n.cfg.clusterDomain}
	for _, san := range n.cfg.tlsSANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, san)
		}
	}
	if n.cfg.nodeExternalIP != "" {
		if ip := net.ParseIP(n.cfg.nodeExternalIP); ip != nil {
			ips = append(ips, ip)
		}
	}
	return dns, ips
}

func issueLeafCerts(n *node, cas *authorities) error {
	t, e := n.p.tls, n.p.etcdTLS
	apiDNS, apiIPs := apiServerSANs(n)
	leaves := []struct {
		ca   *ca
		base string
		spec leafSpec
	}{
		{cas.server, filepath.Join(t, "serving-kube-apiserver"), leafSpec{cn: "kube-apiserver", dns: apiDNS, ips: apiIPs, server: true}},
		{cas.etcd, filepath.Join(e, "server-client"), leafSpec{cn: "etcd-server", dns: []string{"localhost", n.name}, ips: loopback, server: true, client: true}},
		{cas.etcd, filepath.Join(e, "client"), leafSpec{cn: "etcd-client", client: true}},
		{cas.requestHeader, filepath.Join(t, "client-auth-proxy"), leafSpec{cn: "system:auth-proxy", client: true}},
		{cas.client, filepath.Join(t, "client-kube-apiserver"), leafSpec{cn: "system:kube-apiserver-kubelet-client", client: true}},
		{cas.server, filepath.Join(n.p.agent, "serving-kubelet"), leafSpec{cn: n.name, dns: []string{n.name, "localhost"}, ips: append(append([]net.IP{}, loopback...), n.ip), server: true}},
	}
	for _, l := range leaves {
		if _, _, err := l.ca.issue(l.base, l.spec); err != nil {
			return fmt.Errorf("%s: %w", l.base, err)
		}
	}
	return nil
}

// writeComponentKubeconfigs gives every component a client certificate and a kubeconfig for
// the local API server.
func writeComponentKubeconfigs(n *node, cas *authorities) error {
	kubeconfigs := []struct {
		file, cn string
		orgs     []string
	}{
		{n.adminKubeconfig(), "system:admin", []string{"system:masters"}},
		{filepath.Join(n.p.cred, "controller.kubeconfig"), "system:kube-controller-manager", nil},
		{filepath.Join(n.p.cred, "scheduler.kubeconfig"), "system:kube-scheduler", nil},
		{filepath.Join(n.p.cred, "kube-router.kubeconfig"), "system:kube-router", nil},
		{filepath.Join(n.p.agent, "kubelet.kubeconfig"), "system:node:" + n.name, []string{"system:nodes"}},
		{filepath.Join(n.p.agent, "kubeproxy.kubeconfig"), "system:kube-proxy", nil},
	}
	for _, k := range kubeconfigs {
		base := strings.TrimSuffix(k.file, ".kubeconfig") + "-client"
		crt, key, err := cas.client.issue(base, leafSpec{cn: k.cn, orgs: k.orgs, client: true})
		if err != nil {
			return fmt.Errorf("%s: %w", base, err)
		}
		if err := writeFileAtomic(k.file, kubeconfig(n.localAPI(), cas.server.certPEM, crt, key), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func writeKubeconfigOut(admin string, cfg *config) error {
	b, err := os.ReadFile(admin)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	if cfg.kubeconfigMode != "" {
		var m uint32
		if _, err := fmt.Sscanf(cfg.kubeconfigMode, "%o", &m); err == nil {
			mode = os.FileMode(m)
		}
	}
	if err := writeFileAtomic(cfg.kubeconfigOut, b, mode); err != nil {
		return err
	}
	return os.Chmod(cfg.kubeconfigOut, mode)
}

// --- control plane ---------------------------------------------------------------------------
