package main

// The components, each started as a child process (or embedded) with its flags, and the
// readiness waits between them.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"chatstack.local/k3s/nodeconfig"
)

// startContainerd writes containerd's and the CNI's configs and starts containerd.
func (s *supervisor) startContainerd(n *node) error {
	if err := writeContainerdConfig(n.p, n.cfg); err != nil {
		return fmt.Errorf("containerd config: %w", err)
	}
	if err := writeCNIConfig(n.p, n.podSubnet); err != nil {
		return fmt.Errorf("CNI config: %w", err)
	}
	_, err := s.start("containerd", "/bin/containerd", []string{"--config", filepath.Join(n.p.agentEtc, "containerd", "config.toml")}, nil)
	return err
}

// startEtcd runs a single-member etcd on loopback (mutual TLS) and waits until it is healthy.
func (s *supervisor) startEtcd(ctx context.Context, n *node) error {
	e := n.p.etcdTLS
	err := s.startEmbedded(n.cfg, "etcd",
		"--name="+n.name, "--data-dir="+filepath.Join(n.p.server, "db", "etcd"),
		"--listen-client-urls=https://127.0.0.1:2379", "--advertise-client-urls=https://127.0.0.1:2379",
		"--listen-peer-urls=https://127.0.0.1:2380", "--initial-advertise-peer-urls=https://127.0.0.1:2380",
		"--initial-cluster="+n.name+"=https://127.0.0.1:2380", "--initial-cluster-state=new",
		"--listen-metrics-urls=http://127.0.0.1:2381",
		"--cert-file="+e+"/server-client.crt", "--key-file="+e+"/server-client.key",
		"--trusted-ca-file="+e+"/server-ca.crt", "--client-cert-auth",
		"--peer-cert-file="+e+"/server-client.crt", "--peer-key-file="+e+"/server-client.key",
		"--peer-trusted-ca-file="+e+"/server-ca.crt", "--peer-client-cert-auth",
		"--log-level=warn", "--snapshot-count=10000",
	)
	if err != nil {
		return err
	}
	client, err := tlsClient(e+"/server-ca.crt", e+"/client.crt", e+"/client.key")
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	if err := waitFor(ctx, "etcd", 60*time.Second, func() error { return httpOK(client, "https://127.0.0.1:2379/health") }); err != nil {
		return err
	}
	infof("etcd is ready")
	return nil
}

// startAPIServer runs kube-apiserver on etcd and waits until /readyz answers.
func (s *supervisor) startAPIServer(ctx context.Context, n *node) error {
	t, e, cfg := n.p.tls, n.p.etcdTLS, n.cfg
	err := s.startEmbedded(cfg, "kube-apiserver",
		"--advertise-address="+n.ip.String(), "--bind-address=0.0.0.0", "--secure-port="+cfg.httpsPort,
		"--allow-privileged=true", "--anonymous-auth=false", "--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction", "--profiling=false",
		"--client-ca-file="+t+"/client-ca.crt",
		"--tls-cert-file="+t+"/serving-kube-apiserver.crt", "--tls-private-key-file="+t+"/serving-kube-apiserver.key",
		"--etcd-servers=https://127.0.0.1:2379", "--etcd-cafile="+e+"/server-ca.crt",
		"--etcd-certfile="+e+"/client.crt", "--etcd-keyfile="+e+"/client.key",
		"--kubelet-client-certificate="+t+"/client-kube-apiserver.crt", "--kubelet-client-key="+t+"/client-kube-apiserver.key",
		"--kubelet-certificate-authority="+t+"/server-ca.crt",
		"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
		"--service-cluster-ip-range="+cfg.serviceCIDR, "--service-node-port-range=30000-32767",
		"--service-account-issuer=https://kubernetes.default.svc."+cfg.clusterDomain,
		"--api-audiences=https://kubernetes.default.svc."+cfg.clusterDomain+",k3s",
		"--service-account-key-file="+t+"/service.pub", "--service-account-signing-key-file="+t+"/service.key",
		"--requestheader-client-ca-file="+t+"/request-header-ca.crt", "--requestheader-allowed-names=system:auth-proxy",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--proxy-client-cert-file="+t+"/client-auth-proxy.crt", "--proxy-client-key-file="+t+"/client-auth-proxy.key",
		"--enable-aggregator-routing=true", "--storage-backend=etcd3",
	)
	if err != nil {
		return err
	}
	client, err := tlsClient(t+"/server-ca.crt", filepath.Join(n.p.cred, "admin-client.crt"), filepath.Join(n.p.cred, "admin-client.key"))
	if err != nil {
		return fmt.Errorf("kube-apiserver client: %w", err)
	}
	if err := waitFor(ctx, "kube-apiserver", 120*time.Second, func() error { return httpOK(client, n.localAPI()+"/readyz") }); err != nil {
		return err
	}
	infof("kube-apiserver is ready")
	return nil
}

func (s *supervisor) startControllerManager(n *node) error {
	t, cfg := n.p.tls, n.cfg
	kc := filepath.Join(n.p.cred, "controller.kubeconfig")
	return s.startEmbedded(cfg, "kube-controller-manager",
		"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", "--secure-port=10257", "--leader-elect=false", "--profiling=false",
		"--allocate-node-cidrs=true", "--cluster-cidr="+cfg.clusterCIDR, "--node-cidr-mask-size=24",
		"--service-cluster-ip-range="+cfg.serviceCIDR,
		"--cluster-signing-kube-apiserver-client-cert-file="+t+"/client-ca.crt",
		"--cluster-signing-kube-apiserver-client-key-file="+t+"/client-ca.key",
		"--cluster-signing-kubelet-client-cert-file="+t+"/client-ca.crt",
		"--cluster-signing-kubelet-client-key-file="+t+"/client-ca.key",
		"--cluster-signing-kubelet-serving-cert-file="+t+"/server-ca.crt",
		"--cluster-signing-kubelet-serving-key-file="+t+"/server-ca.key",
		"--cluster-signing-legacy-unknown-cert-file="+t+"/server-ca.crt",
		"--cluster-signing-legacy-unknown-key-file="+t+"/server-ca.key",
		"--root-ca-file="+t+"/server-ca.crt",
		"--service-account-private-key-file="+t+"/service.key", "--use-service-account-credentials=true",
		"--configure-cloud-routes=false", "--controllers=*,tokencleaner",
	)
}

func (s *supervisor) startScheduler(n *node) error {
	kc := filepath.Join(n.p.cred, "scheduler.kubeconfig")
	return s.startEmbedded(n.cfg, "kube-scheduler",
		"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", "--secure-port=10259", "--leader-elect=false", "--profiling=false",
	)
}

// --- node agent --------------------------------------------------------------------------------

// waitContainerd waits for containerd, links its socket where tools look for it, and imports
// the preloaded images before the kubelet could try to pull them.
func waitContainerd(ctx context.Context, n *node) error {
	if err := waitFor(ctx, "containerd", 60*time.Second, func() error {
		_, err := run("/bin/ctr", "--address", containerdSock, "version")
		return err
	}); err != nil {
		return err
	}
	_ = os.MkdirAll("/run/containerd", 0o755)
	_ = os.Symlink(containerdSock, "/run/containerd/containerd.sock")
	infof("containerd is ready")
	importImages(n.p)
	return nil
}

func (s *supervisor) startKubelet(n *node) error {
	resolv := hostResolvConf(n.p.agentEtc)
	if err := writeKubeletConfig(n.p, n.cfg, n.cgroupRoot, resolv); err != nil {
		return fmt.Errorf("kubelet config: %w", err)
	}
	args := []string{
		"--config=" + filepath.Join(n.p.agentEtc, "kubelet.yaml"),
		"--kubeconfig=" + filepath.Join(n.p.agent, "kubelet.kubeconfig"),
		"--hostname-override=" + n.name, "--node-ip=" + n.ip.String(),
	}
	// node-role.kubernetes.io/* labels may not be self-applied by a kubelet (NodeRestriction):
	// waitNodeReady adds them once the node has registered, like k3s.
	if len(n.cfg.nodeLabels) > 0 {
		args = append(args, "--node-labels="+strings.Join(n.cfg.nodeLabels, ","))
	}
	if len(n.cfg.nodeTaints) > 0 {
		args = append(args, "--register-with-taints="+strings.Join(n.cfg.nodeTaints, ","))
	}
	return s.startEmbedded(n.cfg, "kubelet", args...)
}

func (s *supervisor) startKubeProxy(n *node) error {
	if n.cfg.disableKubeProxy {
		return nil
	}
	if err := writeKubeProxyConfig(n.p, n.cfg, n.name); err != nil {
		return fmt.Errorf("kube-proxy config: %w", err)
	}
	return s.startEmbedded(n.cfg, "kube-proxy", "--config="+filepath.Join(n.p.agentEtc, "kube-proxy.yaml"), "--hostname-override="+n.name)
}

// --- add-ons and network policy ------------------------------------------------------------------

// applyAddons stages the add-on manifests (CoreDNS, local-path-provisioner, RBAC, metrics-server,
// Traefik as its HelmChartConfig configures it, baked extras), installs helm.cattle.io's CRDs, and
// applies the manifests directory, retrying until the API server takes them.
func applyAddons(ctx context.Context, self string, n *node) error {
	var traefik nodeconfig.TraefikConfig
	if !n.cfg.disable["traefik"] {
		var warnings []string
		var err error
		traefik, warnings, err = nodeconfig.ReadTraefikConfig(n.p.manifests)
		for _, w := range warnings {
			warnf("%s", w)
		}
		if err != nil {
			return fmt.Errorf("traefik add-on: %w", err)
		}
		switch {
		case traefik.GatewayProvider:
			infof("Traefik: Gateway API provider on (HelmChartConfig kube-system/traefik in %s)", traefik.Source)
		case traefik.Source != "":
			infof("Traefik: Gateway API provider off (HelmChartConfig kube-system/traefik in %s)", traefik.Source)
		default:
			infof("Traefik: Gateway API provider off, as k3s ships it (a HelmChartConfig kube-system/traefik with providers.kubernetesGateway.enabled: true in %s turns it on)", n.p.manifests)
		}
	}
	if err := stageManifests(n.p, n.cfg, n.cfg.clusterDNS, n.name, n.ip.String(), traefik); err != nil {
		return fmt.Errorf("staging add-on manifests: %w", err)
	}
	// Established before the manifests directory is applied: a HelmChartConfig there must not wait
	// for a retry of the whole directory.
	if err := waitFor(ctx, "helm.cattle.io CRDs", 60*time.Second, func() error {
		return applyHelmCRDs(self, n.adminKubeconfig())
	}); err != nil {
		return err
	}
	if err := waitFor(ctx, "add-on manifests", 120*time.Second, func() error {
		return applyManifests(self, n.adminKubeconfig(), n.p.manifests)
	}); err != nil {
		return err
	}
	infof("Applied manifests in %s", n.p.manifests)
	return nil
}

// startNetworkPolicyController runs kube-router as the NetworkPolicy controller only (no
// routing, service proxy or CNI: the bridge CNI and kube-proxy do those).
func (s *supervisor) startNetworkPolicyController(n *node) error {
	if n.cfg.disableNetpol {
		return nil
	}
	_, err := s.start("kube-router", "/bin/kube-router", []string{
		"--kubeconfig=" + filepath.Join(n.p.cred, "kube-router.kubeconfig"),
		"--hostname-override=" + n.name,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--run-loadbalancer=false",
		"--enable-cni=false", "--enable-ipv4=true", "--enable-ipv6=false",
		"--service-cluster-ip-range=" + n.cfg.serviceCIDR, "--service-node-port-range=30000-32767",
		"--health-port=" + kubeRouterHealth, "--metrics-port=0", "--iptables-sync-period=5m",
	}, nil)
	return err
}

// --- readiness ---------------------------------------------------------------------------------

// waitNodeReady waits until the kubelet reports the node Ready, labelling it as the control plane
// on the way.
func waitNodeReady(ctx context.Context, n *node) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", n.adminKubeconfig())
	if err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("Kubernetes client: %w", err)
	}
	if err := waitFor(ctx, "node "+n.name+" Ready", 180*time.Second, func() error { return nodeReady(ctx, cs, n) }); err != nil {
		return err
	}
	infof("Node %s is Ready (CNI config loaded by containerd)", n.name)
	return nil
}

func nodeReady(ctx context.Context, cs kubernetes.Interface, n *node) error {
	obj, err := cs.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if obj.Labels["node-role.kubernetes.io/control-plane"] != "true" {
		patch := []byte(`{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":"true","node-role.kubernetes.io/master":"true"}}}`)
		if _, err := cs.CoreV1().Nodes().Patch(ctx, n.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("labelling node: %w", err)
		}
	}
	for _, c := range obj.Status.Conditions {
		if c.Type == corev1.NodeReady {
			// After a restart the stored condition may still say Ready: only trust a
			// heartbeat that the kubelet posted since this server started.
			if c.Status == corev1.ConditionTrue && !c.LastHeartbeatTime.Time.Before(n.started.Truncate(time.Second)) {
				return nil
			}
			return fmt.Errorf("Ready=%s: %s", c.Status, c.Message)
		}
	}
	return errors.New("no Ready condition yet")
}

// waitNetworkPolicyController waits until kube-router is healthy and has installed its
// forwarding chain, so NetworkPolicies are enforced from the moment the node is announced.
func waitNetworkPolicyController(ctx context.Context, n *node) error {
	if n.cfg.disableNetpol {
		warnf("Network policy controller disabled: NetworkPolicy objects are NOT enforced")
		return nil
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	if err := waitFor(ctx, "network policy controller", 120*time.Second, func() error {
		if err := httpOK(hc, "http://127.0.0.1:"+kubeRouterHealth+"/healthz"); err != nil {
			return err
		}
		out, err := run("iptables", "-S", "KUBE-ROUTER-FORWARD")
		if err != nil {
			return fmt.Errorf("KUBE-ROUTER-FORWARD chain: %v %s", err, out)
		}
		return nil
	}); err != nil {
		return err
	}
	infof("Network policy controller (kube-router) is running")
	return nil
}
