package main

// `k3s server`: a supervisor that prepares the node (mounts, cgroups, certificates, configs)
// and runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet,
// kube-proxy and the kube-router network policy controller as child processes, applies the
// add-ons (CoreDNS, local-path-provisioner, RBAC), and logs "Node controller sync successful"
// once the node is Ready with its CNI and NetworkPolicy controller up (the line that
// @testcontainers/k3s waits for). Any child exiting ends the whole server (like k3s).

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	readyLine         = "Node controller sync successful"
	containerdSock    = "/run/k3s/containerd/containerd.sock"
	bakedImagesDir    = "/usr/share/k3s/images"
	bakedManifestsDir = "/usr/share/k3s/manifests"
	bakedAddonsDir    = "/usr/share/k3s/addons"
	cniBinDir         = "/opt/cni/bin"
	kubeRouterHealth  = "20244"
)

var logMu sync.Mutex

func logf(level, format string, a ...interface{}) {
	msg := fmt.Sprintf(format, a...)
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Fprintf(os.Stdout, "time=%q level=%s msg=%q\n", time.Now().UTC().Format(time.RFC3339), level, msg)
}

func infof(f string, a ...interface{}) { logf("info", f, a...) }
func warnf(f string, a ...interface{}) { logf("warning", f, a...) }

type paths struct {
	data, server, tls, etcdTLS, cred, manifests, agent, agentEtc, cniConf, images, storage string
}

func newPaths(data string) paths {
	p := paths{data: data}
	p.server = filepath.Join(data, "server")
	p.tls = filepath.Join(p.server, "tls")
	p.etcdTLS = filepath.Join(p.tls, "etcd")
	p.cred = filepath.Join(p.server, "cred")
	p.manifests = filepath.Join(p.server, "manifests")
	p.agent = filepath.Join(data, "agent")
	p.agentEtc = filepath.Join(p.agent, "etc")
	p.cniConf = filepath.Join(p.agentEtc, "cni", "net.d")
	p.images = filepath.Join(p.agent, "images")
	p.storage = filepath.Join(data, "storage")
	return p
}

func runServer(args []string) int {
	started := time.Now()
	cfg, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "k3s server: %v\n", err)
		return 2
	}
	for _, w := range cfg.warnings {
		warnf("%s", w)
	}
	self, err := os.Executable()
	if err != nil {
		self = "/bin/k3s"
	}
	s := &supervisor{exited: make(chan *child, 16), self: self}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	result := make(chan int, 1)
	go func() {
		if err := s.boot(ctx, cfg, started); err != nil {
			logf("error", "%v", err)
			result <- 1
		}
	}()
	code := 0
	select {
	case sig := <-sigs:
		infof("Received %s, shutting down", sig)
	case c := <-s.exited:
		logf("error", "%s exited: %v", c.name, c.err)
		code = 1
	case code = <-result:
	}
	cancel()
	s.stopAll()
	return code
}

// node is what the boot steps share: the flags, the data paths and the node's identity.
type node struct {
	cfg        *config
	p          paths
	started    time.Time
	name       string // --node-name or the hostname, lower-cased
	ip         net.IP // --node-ip, else the address on the default route
	apiSvcIP   net.IP // first address of the service CIDR: the kubernetes Service
	podSubnet  string // the first /24 of the cluster CIDR, handed to this node
	cgroupRoot string // the kubelet's cgroup root
}

func (n *node) adminKubeconfig() string { return filepath.Join(n.p.cred, "admin.kubeconfig") }
func (n *node) localAPI() string        { return "https://127.0.0.1:" + n.cfg.httpsPort }

// boot brings the node up one step at a time, logs readyLine once it is Ready, and then waits
// until ctx ends. containerd starts first and comes up while the control plane does.
func (s *supervisor) boot(ctx context.Context, cfg *config, started time.Time) error {
	p := newPaths(cfg.dataDir)
	cgroupRoot, err := prepareHost(p, cfg)
	if err != nil {
		return err
	}
	n, err := identifyNode(cfg, p, cgroupRoot, started)
	if err != nil {
		return err
	}
	if err := writeCredentials(n); err != nil {
		return err
	}
	if err := s.startContainerd(n); err != nil {
		return err
	}
	if err := s.startEtcd(ctx, n); err != nil {
		return err
	}
	if err := s.startAPIServer(ctx, n); err != nil {
		return err
	}
	if err := s.startControllerManager(n); err != nil {
		return err
	}
	if err := s.startScheduler(n); err != nil {
		return err
	}
	if err := waitContainerd(ctx, n); err != nil {
		return err
	}
	if err := s.startKubelet(n); err != nil {
		return err
	}
	if err := s.startKubeProxy(n); err != nil {
		return err
	}
	if err := applyAddons(ctx, s.self, n); err != nil {
		return err
	}
	if err := s.startNetworkPolicyController(n); err != nil {
		return err
	}
	if err := waitNodeReady(ctx, n); err != nil {
		return err
	}
	if err := waitNetworkPolicyController(ctx, n); err != nil {
		return err
	}
	infof("%s (node %s Ready %.1fs after start)", readyLine, n.name, time.Since(started).Seconds())
	<-ctx.Done()
	return nil
}

// startEmbedded runs a component built into this binary (`k3s <name> args...`), followed by
// the user's --<name>-arg flags.
func (s *supervisor) startEmbedded(cfg *config, name string, args ...string) error {
	argv := append(append([]string{name}, args...), cfg.extra[name]...)
	_, err := s.start(name, s.self, argv, nil)
	return err
}

// --- host preparation ------------------------------------------------------------------------

// identifyNode works out the node's name, IP and address ranges.
func identifyNode(cfg *config, p paths, cgroupRoot string, started time.Time) (*node, error) {
	hostname := cfg.nodeName
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	n := &node{cfg: cfg, p: p, started: started, name: strings.ToLower(hostname), cgroupRoot: cgroupRoot}
	var err error
	if cfg.nodeIP != "" {
		n.ip = net.ParseIP(cfg.nodeIP)
	} else if n.ip, err = defaultRouteIP(); err != nil {
		return nil, fmt.Errorf("node IP: %w", err)
	}
	if n.apiSvcIP, err = nthIP(cfg.serviceCIDR, 1); err != nil {
		return nil, fmt.Errorf("--service-cidr: %w", err)
	}
	if n.podSubnet, err = firstPodSubnet(cfg.clusterCIDR); err != nil {
		return nil, fmt.Errorf("pod subnet: %w", err)
	}
	infof("Node %s, IP %s, cluster CIDR %s (node: %s), service CIDR %s", n.name, n.ip, cfg.clusterCIDR, n.podSubnet, cfg.serviceCIDR)
	return n, nil
}

// --- certificates and kubeconfigs --------------------------------------------------------------
