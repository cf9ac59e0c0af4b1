package main

// `k3s server`: a supervisor that prepares the node (mounts, cgroups, certificates, configs)
// and runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet,
// kube-proxy and the kube-router network policy controller as child processes, applies the
// add-ons (CoreDNS, local-path-provisioner, RBAC), and logs "Node controller sync successful"
// once the node is Ready with its CNI and NetworkPolicy controller up (the line that
// @testcontainers/k3s waits for). Any child exiting ends the whole server (like k3s).

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
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

// ---------------------------------------------------------------------------------------------
// child processes

type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

type supervisor struct {
	mu       sync.Mutex
	children []*child
	exited   chan *child
	self     string
}

// prefixCopy copies a child's output line by line to stdout with a "[name] " prefix, and
// makes sure no child can print the readiness line early.
func prefixCopy(name string, r io.Reader, wg *sync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.ReplaceAll(sc.Text(), readyLine, "Node controller sync (child)")
		logMu.Lock()
		fmt.Fprintf(os.Stdout, "[%s] %s\n", name, line)
		logMu.Unlock()
	}
}

func (s *supervisor) start(name, path string, args []string, env []string) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go prefixCopy(name, stdout, &wg)
	go prefixCopy(name, stderr, &wg)
	go func() {
		wg.Wait()
		c.err = cmd.Wait()
		close(c.done)
		s.exited <- c
	}()
	s.mu.Lock()
	s.children = append(s.children, c)
	s.mu.Unlock()
	infof("Started %s (pid %d)", name, cmd.Process.Pid)
	return c, nil
}

func (s *supervisor) stopAll() {
	s.mu.Lock()
	cs := append([]*child(nil), s.children...)
	s.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		select {
		case <-c.done:
			continue
		default:
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
		}
	}
}

// ---------------------------------------------------------------------------------------------
// helpers

func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func waitFor(ctx context.Context, what string, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = f(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s: %v", what, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func tlsClient(caFile, certFile, keyFile string) (*http.Client, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

func httpOK(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// defaultRouteIP returns the first IPv4 address of the interface holding the default route.
func defaultRouteIP() (net.IP, error) {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 2 && f[1] == "00000000" {
			ifc, err := net.InterfaceByName(f[0])
			if err != nil {
				return nil, err
			}
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
					return ipn.IP.To4(), nil
				}
			}
		}
	}
	return nil, errors.New("no IPv4 address on the default route")
}

func allIPv4() []net.IP {
	var out []net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			out = append(out, ipn.IP.To4())
		}
	}
	return out
}

// nthIP returns the n-th address (n >= 1) of a CIDR.
func nthIP(cidr string, n int) (net.IP, error) {
	_, ipn, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	ip := append(net.IP(nil), ipn.IP.To4()...)
	if ip == nil {
		return nil, fmt.Errorf("%s: only IPv4 is supported", cidr)
	}
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	v += uint32(n)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4(), nil
}

// firstPodSubnet is the first /24 of the cluster CIDR: the controller-manager hands exactly that
// to the first (only) node, and the bridge CNI config uses it.
func firstPodSubnet(cidr string) (string, error) {
	_, ipn, err := net.ParseCIDR(cidr)
	if err != nil {
		return "", err
	}
	ones, _ := ipn.Mask.Size()
	if ones > 24 {
		return "", fmt.Errorf("--cluster-cidr %s: needs a prefix of /24 or shorter", cidr)
	}
	return fmt.Sprintf("%s/24", ipn.IP.To4()), nil
}

// ---------------------------------------------------------------------------------------------
// node preparation

// kubelet insists on these kernel tunables and, when protectKernelDefaults is false, writes
// them. They are global (not per network namespace): writing them from a privileged container
// would change the HOST (e.g. kernel.panic_on_oops=1). Instead, files holding the wanted
// values are bind-mounted over them in this container's mount namespace, so the kubelet reads
// what it wants and writes nothing.
var kubeletTunables = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

func shadowKernelTunables() {
	dir := "/run/k3s/sysctl"
	_ = os.MkdirAll(dir, 0o755)
	var shadowed []string
	keys := make([]string, 0, len(kubeletTunables))
	for k := range kubeletTunables {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := kubeletTunables[k]
		p := "/proc/sys/" + k
		cur, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(cur)) == want {
			continue
		}
		f := filepath.Join(dir, strings.ReplaceAll(k, "/", "."))
		if err := os.WriteFile(f, []byte(want+"\n"), 0o444); err != nil {
			warnf("sysctl shadow %s: %v", k, err)
			continue
		}
		if err := syscall.Mount(f, p, "", syscall.MS_BIND, ""); err != nil {
			warnf("sysctl shadow %s: %v", k, err)
			continue
		}
		_ = syscall.Mount("", p, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
		shadowed = append(shadowed, strings.ReplaceAll(k, "/", ".")+"="+want)
	}
	if len(shadowed) > 0 {
		infof("Host kernel tunables left unchanged; kubelet sees (container-local view): %s", strings.Join(shadowed, " "))
	}
}

func writeSysctl(k, v string) {
	if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
		warnf("sysctl %s=%s: %v", k, v, err)
	}
}

// cgroupSetup returns the kubelet's cgroup root: this container's own cgroup, so every pod
// lives (and dies) below the container. On cgroup v2 the supervisor first moves itself into
// <own>/init (no processes may sit in a cgroup that has controllers enabled for children).
func cgroupSetup() (root string, v2 bool, err error) {
	var fsType syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &fsType); err != nil {
		return "", false, err
	}
	v2 = fsType.Type == 0x63677270 // CGROUP2_SUPER_MAGIC
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", v2, err
	}
	root = ownCgroup(string(b), v2)
	if !v2 {
		return root, false, nil
	}
	base := filepath.Join("/sys/fs/cgroup", root)
	if err := moveProcesses(base, filepath.Join(base, "init")); err != nil {
		return "", true, err
	}
	enableControllers(base)
	return root, true, nil
}

// ownCgroup finds this process's cgroup in /proc/self/cgroup: the unified hierarchy's on v2,
// the memory controller's on v1; "/" if none is listed.
func ownCgroup(procSelfCgroup string, v2 bool) string {
	root := ""
	for _, line := range strings.Split(strings.TrimSpace(procSelfCgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if v2 && parts[0] == "0" {
			root = parts[2]
		}
		if !v2 {
			for _, c := range strings.Split(parts[1], ",") {
				if c == "memory" {
					root = parts[2]
				}
			}
		}
	}
	if root == "" {
		root = "/"
	}
	return root
}

// moveProcesses moves every process of cgroup base into the (created) cgroup dst, retrying
// while processes appear.
func moveProcesses(base, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for i := 0; i < 20; i++ {
		procs, _ := os.ReadFile(filepath.Join(base, "cgroup.procs"))
		pids := strings.Fields(string(procs))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			_ = os.WriteFile(filepath.Join(dst, "cgroup.procs"), []byte(p), 0o644)
		}
	}
	return nil
}

// enableControllers delegates every controller available in base to its children (best effort).
func enableControllers(base string) {
	ctrls, _ := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	var enable []string
	for _, c := range strings.Fields(string(ctrls)) {
		enable = append(enable, "+"+c)
	}
	if len(enable) > 0 {
		if err := os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644); err != nil {
			warnf("cgroup v2: enabling controllers %v in %s: %v", enable, base, err)
		}
	}
}

func hostResolvConf(dir string) string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err == nil {
		ok := false
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "nameserver" {
				ip := net.ParseIP(f[1])
				if ip != nil && !ip.IsLoopback() {
					ok = true
				}
			}
		}
		if ok {
			return "/etc/resolv.conf"
		}
	}
	// Like k3s: pods must not inherit a loopback resolver (it would point into the pod).
	p := filepath.Join(dir, "resolv.conf")
	_ = os.WriteFile(p, []byte("nameserver 8.8.8.8\n"), 0o644)
	return p
}

// ---------------------------------------------------------------------------------------------
// the server

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

// prepareHost creates the directories, makes / shared, gives the node a machine id, sets the
// kernel tunables and forwarding the kubelet and the bridge CNI need, and sets up cgroups. It
// returns the kubelet's cgroup root.
func prepareHost(p paths, cfg *config) (string, error) {
	if err := makeDirs(p, cfg); err != nil {
		return "", fmt.Errorf("preparing directories: %w", err)
	}
	// kubelet's mount propagation needs a shared root.
	if err := syscall.Mount("", "/", "", syscall.MS_SHARED|syscall.MS_REC, ""); err != nil {
		warnf("make / rshared: %v", err)
	}
	ensureMachineID()
	shadowKernelTunables()
	writeSysctl("net/ipv4/ip_forward", "1")
	writeSysctl("net/bridge/bridge-nf-call-iptables", "1")
	writeSysctl("net/bridge/bridge-nf-call-ip6tables", "1")
	root, v2, err := cgroupSetup()
	if err != nil {
		return "", fmt.Errorf("cgroups: %w", err)
	}
	infof("cgroup v%d; pods go below %s", map[bool]int{true: 2, false: 1}[v2], root)
	return root, nil
}

func makeDirs(p paths, cfg *config) error {
	for _, d := range []string{p.tls, p.etcdTLS, p.cred, p.manifests, p.agentEtc, p.cniConf, p.images, p.storage,
		"/run/k3s/containerd", "/var/lib/kubelet", "/var/lib/cni", "/var/log/pods", filepath.Dir(cfg.kubeconfigOut)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// ensureMachineID writes a random /etc/machine-id when there is none (best effort).
func ensureMachineID() {
	if b, _ := os.ReadFile("/etc/machine-id"); len(strings.TrimSpace(string(b))) > 0 {
		return
	}
	id := make([]byte, 16)
	f, _ := os.Open("/dev/urandom")
	if f != nil {
		_, _ = io.ReadFull(f, id)
		f.Close()
	}
	_ = os.WriteFile("/etc/machine-id", []byte(fmt.Sprintf("%x\n", id)), 0o444)
}

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

// applyAddons stages the add-on manifests (CoreDNS, local-path-provisioner, RBAC, baked extras)
// and applies them, retrying until the API server takes them.
func applyAddons(ctx context.Context, self string, n *node) error {
	if err := stageManifests(n.p, n.cfg, n.cfg.clusterDNS, n.name, n.ip.String()); err != nil {
		return fmt.Errorf("staging add-on manifests: %w", err)
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
