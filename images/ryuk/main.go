// Command ryuk is a small resource reaper compatible with the protocol Testcontainers clients
// speak to testcontainers/ryuk (github.com/testcontainers/moby-ryuk), written with the standard
// library only so it builds where that module cannot be fetched.
//
// Protocol: listen on TCP $RYUK_PORT (8080). Each line a client sends is a filter in URL query
// form (e.g. "label=org.testcontainers.session-id=XYZ"); every line is answered "ACK\n". Once
// every connection has been closed for $RYUK_RECONNECTION_TIMEOUT (10s), or no client connected
// within $RYUK_CONNECTION_TIMEOUT (60s), or on SIGTERM/SIGINT, containers (force, with volumes),
// networks, volumes and images matching any filter are removed, and the process exits.
// Containers labelled org.testcontainers.ryuk=true (reapers) are never removed. The line
// "Started!" is logged once the port listens (testcontainers waits for /.*Started.*/).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const ryukLabel = "org.testcontainers.ryuk"

type config struct {
	port                int
	connectionTimeout   time.Duration
	reconnectionTimeout time.Duration
	requestTimeout      time.Duration
	shutdownTimeout     time.Duration
	removeRetries       int
	retryOffset         time.Duration
	verbose             bool
}

func envDuration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	if d, err := time.ParseDuration(v); err == nil {
		return d
	}
	if n, err := strconv.Atoi(v); err == nil { // bare number: seconds
		return time.Duration(n) * time.Second
	}
	log.Printf("ignoring invalid %s=%q, using %s", name, v, def)
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(os.Getenv(name))); err == nil {
		return n
	}
	return def
}

func loadConfig() config {
	verbose, _ := strconv.ParseBool(os.Getenv("RYUK_VERBOSE"))
	return config{
		port:                envInt("RYUK_PORT", 8080),
		connectionTimeout:   envDuration("RYUK_CONNECTION_TIMEOUT", 60*time.Second),
		reconnectionTimeout: envDuration("RYUK_RECONNECTION_TIMEOUT", 10*time.Second),
		requestTimeout:      envDuration("RYUK_REQUEST_TIMEOUT", 10*time.Second),
		shutdownTimeout:     envDuration("RYUK_SHUTDOWN_TIMEOUT", 10*time.Minute),
		removeRetries:       envInt("RYUK_REMOVE_RETRIES", 10),
		retryOffset:         envDuration("RYUK_RETRY_OFFSET", -time.Second),
		verbose:             verbose,
	}
}

// --- Docker Engine API over net/http -------------------------------------------------------

type docker struct {
	http    *http.Client
	base    string
	timeout time.Duration
}

type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("docker API %d: %s", e.status, e.msg) }

func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == http.StatusNotFound
}

// newDocker honours DOCKER_HOST (unix:// or tcp://), default unix:///var/run/docker.sock.
func newDocker(timeout time.Duration) (*docker, error) {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("DOCKER_HOST %q: %w", host, err)
	}
	tr := &http.Transport{}
	base := "http://docker"
	switch u.Scheme {
	case "unix":
		path := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	case "tcp", "http":
		base = "http://" + u.Host
	default:
		return nil, fmt.Errorf("DOCKER_HOST %q: unsupported scheme %q", host, u.Scheme)
	}
	return &docker{http: &http.Client{Transport: tr}, base: base, timeout: timeout}, nil
}

func (d *docker) do(method, path string, query url.Values, out interface{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	u := d.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(body))
		}
		return &apiError{status: resp.StatusCode, msg: m.Message}
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// --- filters ---------------------------------------------------------------------------------

// filter is one client line in Docker's filter JSON form: {"label": {"a=b": true}}.
type filter map[string]map[string]bool

func parseFilter(line string) (filter, string, error) {
	q, err := url.ParseQuery(line)
	if err != nil {
		return nil, "", err
	}
	if len(q) == 0 {
		return nil, "", errors.New("no filter terms")
	}
	f := filter{}
	for k, vs := range q {
		f[k] = map[string]bool{}
		for _, v := range vs {
			f[k][v] = true
		}
	}
	key, err := json.Marshal(f) // map keys are sorted: a canonical key
	return f, string(key), err
}

func (f filter) query() url.Values {
	b, _ := json.Marshal(f)
	return url.Values{"filters": {string(b)}}
}

type reaper struct {
	cfg     config
	docker  *docker
	mu      sync.Mutex
	filters map[string]filter
}

func (r *reaper) debugf(format string, args ...interface{}) {
	if r.cfg.verbose {
		log.Printf(format, args...)
	}
}

func (r *reaper) add(line string) {
	f, key, err := parseFilter(line)
	if err != nil {
		log.Printf("invalid filter %q: %v", line, err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.filters[key]; !ok {
		r.filters[key] = f
		log.Printf("Adding %s", key)
	}
}

func (r *reaper) snapshot() []filter {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.filters))
	for k := range r.filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]filter, 0, len(keys))
	for _, k := range keys {
		out = append(out, r.filters[k])
	}
	return out
}

func (r *reaper) handle(conn net.Conn, done chan<- string) {
	addr := conn.RemoteAddr().String()
	defer func() {
		conn.Close()
		done <- addr
	}()
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		r.add(line)
		if _, err := conn.Write([]byte("ACK\n")); err != nil {
			log.Printf("ack to %s: %v", addr, err)
			return
		}
	}
}

// --- pruning ---------------------------------------------------------------------------------

var errChanged = errors.New("matching resource created after the prune began")

type resources struct {
	containers, networks, volumes, images []string
}

func appendNew(list []string, seen map[string]bool, id string) []string {
	if seen[id] {
		return list
	}
	seen[id] = true
	return append(list, id)
}

// collect lists what the filters match; errChanged if something matching is newer than since.
func (r *reaper) collect(since time.Time) (*resources, error) {
	res := &resources{}
	seen := map[string]bool{}
	for _, f := range r.snapshot() {
		q := f.query()
		var cs []struct {
			ID      string            `json:"Id"`
			Created int64             `json:"Created"`
			Labels  map[string]string `json:"Labels"`
		}
		qa := url.Values{"all": {"1"}, "filters": q["filters"]}
		if err := r.docker.do("GET", "/containers/json", qa, &cs); err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		for _, c := range cs {
			if c.Labels[ryukLabel] == "true" {
				continue
			}
			if time.Unix(c.Created, 0).After(since) {
				return nil, fmt.Errorf("container %s: %w", c.ID, errChanged)
			}
			res.containers = appendNew(res.containers, seen, "c"+c.ID)
		}
		var ns []struct {
			ID      string    `json:"Id"`
			Created time.Time `json:"Created"`
		}
		if err := r.docker.do("GET", "/networks", q, &ns); err != nil {
			return nil, fmt.Errorf("list networks: %w", err)
		}
		for _, n := range ns {
			if n.Created.After(since) {
				return nil, fmt.Errorf("network %s: %w", n.ID, errChanged)
			}
			res.networks = appendNew(res.networks, seen, "n"+n.ID)
		}
		var vs struct {
			Volumes []struct {
				Name      string `json:"Name"`
				CreatedAt string `json:"CreatedAt"`
			} `json:"Volumes"`
		}
		if err := r.docker.do("GET", "/volumes", q, &vs); err != nil {
			return nil, fmt.Errorf("list volumes: %w", err)
		}
		for _, v := range vs.Volumes {
			if t, err := time.Parse(time.RFC3339, v.CreatedAt); err == nil && t.After(since) {
				return nil, fmt.Errorf("volume %s: %w", v.Name, errChanged)
			}
			res.volumes = appendNew(res.volumes, seen, "v"+v.Name)
		}
		var is []struct {
			ID      string `json:"Id"`
			Created int64  `json:"Created"`
		}
		if err := r.docker.do("GET", "/images/json", q, &is); err != nil {
			return nil, fmt.Errorf("list images: %w", err)
		}
		for _, i := range is {
			if time.Unix(i.Created, 0).After(since) {
				return nil, fmt.Errorf("image %s: %w", i.ID, errChanged)
			}
			res.images = appendNew(res.images, seen, "i"+i.ID)
		}
	}
	return res, nil
}

// remove calls rm for every id (prefix stripped), retrying failures; returns how many went.
func (r *reaper) remove(kind string, ids []string, rm func(id string) error) int {
	todo := map[string]bool{}
	for _, id := range ids {
		todo[id[1:]] = true
	}
	removed := 0
	for attempt := 1; attempt <= r.cfg.removeRetries && len(todo) > 0; attempt++ {
		for id := range todo {
			err := rm(id)
			if err == nil || isNotFound(err) {
				delete(todo, id)
				if err == nil {
					removed++
				}
				r.debugf("removed %s %s", kind, id)
				continue
			}
			log.Printf("remove %s %s (attempt %d): %v", kind, id, attempt, err)
		}
		if len(todo) > 0 && attempt < r.cfg.removeRetries {
			time.Sleep(time.Second)
		}
	}
	if len(todo) > 0 {
		log.Printf("gave up on %d %s(s)", len(todo), kind)
	}
	return removed
}

func (r *reaper) prune(res *resources) {
	d := r.docker
	c := r.remove("container", res.containers, func(id string) error {
		return d.do("DELETE", "/containers/"+id, url.Values{"force": {"1"}, "v": {"1"}}, nil)
	})
	n := r.remove("network", res.networks, func(id string) error {
		return d.do("DELETE", "/networks/"+id, nil, nil)
	})
	v := r.remove("volume", res.volumes, func(id string) error {
		return d.do("DELETE", "/volumes/"+id, url.Values{"force": {"1"}}, nil)
	})
	i := r.remove("image", res.images, func(id string) error {
		return d.do("DELETE", "/images/"+id, url.Values{"force": {"1"}}, nil)
	})
	log.Printf("Removed %d container(s), %d network(s), %d volume(s), %d image(s)", c, n, v, i)
}

func main() {
	log.SetOutput(os.Stdout)
	log.SetFlags(log.LstdFlags | log.LUTC)
	cfg := loadConfig()
	d, err := newDocker(cfg.requestTimeout)
	if err != nil {
		log.Fatal(err)
	}
	log.Println("Pinging Docker...")
	for attempt := 1; ; attempt++ {
		if err = d.do("GET", "/_ping", nil, nil); err == nil {
			break
		}
		if attempt == 10 {
			log.Fatalf("Docker daemon not reachable: %v", err)
		}
		time.Sleep(time.Second)
	}
	log.Println("Docker daemon is available!")

	r := &reaper{cfg: cfg, docker: d, filters: map[string]filter{}}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.port))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	log.Printf("Started! listening on %s (connection timeout %s, reconnection timeout %s)",
		ln.Addr(), cfg.connectionTimeout, cfg.reconnectionTimeout)

	connected := make(chan string)
	disconnected := make(chan string)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				log.Printf("accept: %v", err)
				continue
			}
			connected <- conn.RemoteAddr().String()
			go r.handle(conn, disconnected)
		}
	}()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)

	clients := 0
	timer := time.NewTimer(cfg.connectionTimeout)
	stopped := false
	for {
		select {
		case addr := <-connected:
			clients++
			log.Printf("New client connected: %s (%d connected)", addr, clients)
			if clients == 1 && !stopped {
				timer.Stop()
			}
		case addr := <-disconnected:
			clients--
			log.Printf("Client disconnected: %s (%d connected)", addr, clients)
			if clients == 0 && !stopped {
				timer.Reset(cfg.reconnectionTimeout)
			}
		case s := <-sig:
			if stopped {
				continue
			}
			stopped = true
			ln.Close() // new clients must start a new reaper
			wait := cfg.shutdownTimeout
			if clients == 0 {
				wait = time.Nanosecond
			}
			log.Printf("Signal %s received (%d connected), pruning in %s", s, clients, wait)
			timer.Stop()
			timer.Reset(wait)
		case now := <-timer.C:
			if clients > 0 && !stopped {
				continue // a client connected while the timer fired
			}
			if clients == 0 && !stopped {
				log.Println("Timed out waiting for re-connection")
			}
			res, err := r.collect(now.Add(cfg.retryOffset))
			if errors.Is(err, errChanged) {
				log.Printf("%v; waiting again", err)
				timer.Reset(cfg.reconnectionTimeout)
				continue
			}
			if err != nil {
				log.Printf("collect: %v", err)
			}
			ln.Close()
			if res != nil {
				r.prune(res)
			}
			if err != nil {
				os.Exit(1)
			}
			return
		}
	}
}
