package main

// The host: its addresses, the kernel tunables and cgroups the kubelet expects, the resolver
// the pods get, and the directories and machine id the node needs before anything starts.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

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
