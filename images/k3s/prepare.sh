#!/usr/bin/env bash
# Compile everything the k3s-compatible node image needs, on the host (Go's default module and
# build caches stay warm between runs), into the build context $CONTEXT_DIR:
#   bin/k3s                     multi-call: server supervisor, kube-apiserver, kube-controller-manager,
#                               kube-scheduler, kubelet, kube-proxy, kubectl, etcd, oci-archive
#                               (our module in ./src: k8s.io/kubernetes + go.etcd.io/etcd/server/v3)
#   bin/kube-router             compiled with bin/k3s, in the same module (a `tool` of ./src/go.mod)
#   bin/containerd, bin/containerd-shim-runc-v2, bin/ctr, bin/runc, bin/metrics-server, bin/traefik
#   cni/{bridge,host-local,loopback,portmap,bandwidth}
#   images/*.tar                OCI archives preloaded into containerd: pause, CoreDNS (./coredns),
#                               local-path-provisioner, metrics-server, Traefik (busybox is made in the Dockerfile)
#   addons/traefik/gateway-api-crds.yaml
#                               the Gateway API CRDs (standard channel) of sigs.k8s.io/gateway-api
# Everything comes from the Go module proxy (k3s itself is not served there) and Debian.
# Per-step times go to $CONTEXT_DIR/build-times.txt.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CONTEXT_DIR:?CONTEXT_DIR must be set}"
: "${INPUT_KUBERNETES:=v1.35.4}" "${INPUT_CONTAINERD:=v2.2.9}" "${INPUT_RUNC:=v1.3.6}"
: "${INPUT_CNI_PLUGINS:=v1.9.1}" "${INPUT_COREDNS:=v1.14.7}" "${INPUT_LOCAL_PATH_PROVISIONER:=v0.0.30}"
: "${INPUT_KUBE_ROUTER:=v2.1.0}" "${INPUT_PAUSE_VERSION:=3.10-chatstack}"
: "${INPUT_PAUSE_IMAGE:=chatstack.local/pause:3.10}" "${INPUT_COREDNS_IMAGE:=chatstack.local/coredns:1.14.7}"
: "${INPUT_LOCAL_PATH_IMAGE:=chatstack.local/local-path-provisioner:v0.0.30}"
: "${INPUT_HELPER_IMAGE:=chatstack.local/busybox:1.35.0}"
: "${INPUT_METRICS_SERVER:=v0.8.0}" "${INPUT_METRICS_SERVER_IMAGE:=chatstack.local/metrics-server:v0.8.0}"
: "${INPUT_TRAEFIK:=v3.6.13}" "${INPUT_TRAEFIK_IMAGE:=chatstack.local/traefik:v3.6.13}" "${INPUT_GATEWAY_API:=v1.4.0}"
export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-}"
# The compiler and linker collect garbage less often: 22 % less wall time for the same build here
# (local-path-provisioner from an empty cache: 110-113 s at 400, 141 s at the default 100), for
# a few GB more peak memory on these 24 GiB machines. Not in Go's cache keys: cached work stays valid.
export GOGC="${GOGC:-400}"

need_pkgs=()
command -v go >/dev/null || need_pkgs+=(golang-go)
command -v gcc >/dev/null || need_pkgs+=(gcc)
[[ -e /usr/lib/$(uname -m)-linux-gnu/libc.a ]] || need_pkgs+=(libc6-dev)
[[ -e /usr/include/seccomp.h ]] || need_pkgs+=(libseccomp-dev)
command -v pkg-config >/dev/null || need_pkgs+=(pkg-config)
if ((${#need_pkgs[@]})); then
  if [[ "$(id -u)" != 0 ]]; then
    echo "k3s: needs ${need_pkgs[*]} (apt-get install ${need_pkgs[*]})" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
gov="$(go env GOVERSION)"
case "$gov" in go1.2[5-9]* | go1.[3-9]*) ;; *) echo "k3s: needs Go >= 1.25 (kubernetes $INPUT_KUBERNETES), have $gov" >&2; exit 1 ;; esac

mkdir -p "$CONTEXT_DIR/bin" "$CONTEXT_DIR/cni" "$CONTEXT_DIR/images"
times="$CONTEXT_DIR/build-times.txt"
: >"$times"
step() { # step NAME CMD...
  local name=$1 t0 t1
  shift
  t0=$(date +%s%N)
  echo "k3s: building $name" >&2
  "$@"
  t1=$(date +%s%N)
  awk -v n="$name" -v ns=$((t1 - t0)) 'BEGIN { printf "%-28s %7.1f s\n", n, ns / 1e9 }' | tee -a "$times" >&2
}

BIN="$CONTEXT_DIR/bin"
major_minor="${INPUT_KUBERNETES#v}"
k8s_ldflags=(
  -X "k8s.io/component-base/version.gitVersion=${INPUT_KUBERNETES}+chatstack"
  -X "k8s.io/component-base/version.gitMajor=${major_minor%%.*}"
  -X "k8s.io/component-base/version.gitMinor=$(echo "$major_minor" | cut -d. -f2)"
  -X "k8s.io/component-base/version.gitTreeState=clean"
  -X "k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
  -X "k8s.io/client-go/pkg/version.gitVersion=${INPUT_KUBERNETES}+chatstack"
  -X "main.pauseImage=$INPUT_PAUSE_IMAGE" -X "main.corednsImage=$INPUT_COREDNS_IMAGE"
  -X "main.localPathImage=$INPUT_LOCAL_PATH_IMAGE" -X "main.helperImage=$INPUT_HELPER_IMAGE"
  -X "main.metricsImage=$INPUT_METRICS_SERVER_IMAGE" -X "main.traefikImage=$INPUT_TRAEFIK_IMAGE"
)
# kube-router is built in the same module and the same `go build` as k3s, as upstream k3s embeds
# its NetworkPolicy controller: the Kubernetes client libraries it shares with k3s (k8s.io/* v0.35.4
# instead of its own v0.29) are compiled once. Built on its own it took 100-159 s from an empty
# cache; here it adds what images/k3s/README.md measures. Its go.mod requirement is the version
# built, so the input must agree with it.
KUBE_ROUTER_MAIN=github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
# pinned_by_gomod DIR MODULE VERSION FIX: the version DIR's go.mod resolves MODULE to must be the
# one image.json names (FIX says how to make them agree).
pinned_by_gomod() {
  local v
  v="$(cd "$HERE/$1" && go list -m -f '{{.Version}}' "$2")"
  [[ "$v" == "$3" ]] || { echo "k3s: $1/go.mod resolves $2 to $v but image.json says $3 ($4)" >&2; exit 1; }
}
build_k3s() { # (no value above contains a space)
  pinned_by_gomod src github.com/cloudnativelabs/kube-router/v2 "$INPUT_KUBE_ROUTER" \
    "cd images/k3s/src && go get -tool $KUBE_ROUTER_MAIN@$INPUT_KUBE_ROUTER"
  (cd "$HERE/src" && CGO_ENABLED=0 go build -tags providerless \
    -ldflags "-s -w ${k8s_ldflags[*]} -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$INPUT_KUBE_ROUTER" \
    -o "$BIN/" . "$KUBE_ROUTER_MAIN") # names them after their import paths: k3s, kube-router
}
build_metrics_server() { # its own module graph: v0.8.0's generated OpenAPI names only fit k8s.io/* v0.33
  CGO_ENABLED=0 GOBIN="$BIN" go install \
    -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$INPUT_METRICS_SERVER" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@$INPUT_METRICS_SERVER"
}
# Traefik v3.6.13, the release k3s v1.33-v1.35 ship (v3.7's ACME DNS providers need modules the
# proxy refuses, and its nested dynamic/ext module is not in the zip). Its go.mod has replace
# directives, so `go install pkg@version` refuses it: build inside the downloaded module
# (read-only is fine; its go.sum pins everything), with its own module graph (k8s.io/* v0.34,
# gateway-api v1.4.0). Upstream's release build sets the same version variable.
build_traefik() {
  local dir
  dir="$(go mod download -json "github.com/traefik/traefik/v3@$INPUT_TRAEFIK" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  (cd "$dir" && CGO_ENABLED=0 go build -mod=readonly -trimpath \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$INPUT_TRAEFIK" \
    -o "$BIN/traefik" ./cmd/traefik)
}
# The CRDs in the order of the module's own config/crd/kustomization.yaml (standard channel):
# v1.4.0, what Traefik v3.6 implements and k3s's traefik-crd chart installs with it.
gateway_api_crds() {
  local dir out="$CONTEXT_DIR/addons/traefik/gateway-api-crds.yaml"
  dir="$(go mod download -json "sigs.k8s.io/gateway-api@$INPUT_GATEWAY_API" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  mkdir -p "$(dirname "$out")"
  : >"$out"
  for f in $(sed -n 's/^[[:space:]]*- \(standard\/.*\.yaml\)$/\1/p' "$dir/config/crd/kustomization.yaml"); do
    printf -- '---\n' >>"$out"
    cat "$dir/config/crd/$f" >>"$out"
  done
  grep -q 'name: httproutes.gateway.networking.k8s.io' "$out" || { echo "k3s: no HTTPRoute CRD in $out" >&2; exit 1; }
}
build_containerd() {
  CGO_ENABLED=0 GOBIN="$BIN" go install -tags no_btrfs \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$INPUT_CONTAINERD" \
    "github.com/containerd/containerd/v2/cmd/containerd@$INPUT_CONTAINERD" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$INPUT_CONTAINERD" \
    "github.com/containerd/containerd/v2/cmd/ctr@$INPUT_CONTAINERD"
}
build_runc() { # cgo + libseccomp: pods use seccompProfile RuntimeDefault
  CGO_ENABLED=1 GOBIN="$BIN" go install -tags seccomp \
    -ldflags "-s -w -X main.version=${INPUT_RUNC#v}" "github.com/opencontainers/runc@$INPUT_RUNC"
}
build_cni() {
  local m=github.com/containernetworking/plugins/plugins
  CGO_ENABLED=0 GOBIN="$CONTEXT_DIR/cni" go install -ldflags "-s -w" \
    "$m/main/bridge@$INPUT_CNI_PLUGINS" "$m/main/loopback@$INPUT_CNI_PLUGINS" \
    "$m/ipam/host-local@$INPUT_CNI_PLUGINS" "$m/meta/portmap@$INPUT_CNI_PLUGINS" \
    "$m/meta/bandwidth@$INPUT_CNI_PLUGINS"
}
# CoreDNS with the node's plugins only (./coredns/main.go says why and what): its own module, whose
# go.mod pins the release image.json names.
build_coredns() {
  pinned_by_gomod coredns github.com/coredns/coredns "$INPUT_COREDNS" \
    "cd images/k3s/coredns && go get github.com/coredns/coredns@$INPUT_COREDNS && go mod tidy"
  (cd "$HERE/coredns" && CGO_ENABLED=0 go build -ldflags "-s -w" -o "$BIN/coredns" .)
}
build_local_path() {
  CGO_ENABLED=0 GOBIN="$BIN" go install -ldflags "-s -w -X main.VERSION=$INPUT_LOCAL_PATH_PROVISIONER" \
    "github.com/rancher/local-path-provisioner@$INPUT_LOCAL_PATH_PROVISIONER"
}
build_pause() { # pause.c is a link to images/pause/pause.c, so it is in this recipe's hash
  mkdir -p "$CONTEXT_DIR/pause"
  gcc -Os -Wall -Werror -static -DVERSION="\"$INPUT_PAUSE_VERSION\"" -o "$CONTEXT_DIR/pause/pause" "$HERE/pause.c"
  strip "$CONTEXT_DIR/pause/pause"
}
oci_archives() {
  local img="$CONTEXT_DIR/images"
  "$BIN/k3s" oci-archive --out "$img/pause.tar" --name "$INPUT_PAUSE_IMAGE" \
    --file "$CONTEXT_DIR/pause/pause:/pause" --entrypoint /pause --user 65535:65535
  "$BIN/k3s" oci-archive --out "$img/coredns.tar" --name "$INPUT_COREDNS_IMAGE" \
    --file "$BIN/coredns:/coredns" --entrypoint /coredns --user 0:0
  "$BIN/k3s" oci-archive --out "$img/local-path-provisioner.tar" --name "$INPUT_LOCAL_PATH_IMAGE" \
    --file "$BIN/local-path-provisioner:/usr/bin/local-path-provisioner" --entrypoint local-path-provisioner
  # upstream's image: the binary at /, USER 65534 (the add-on's manifest runs it as 1000)
  "$BIN/k3s" oci-archive --out "$img/metrics-server.tar" --name "$INPUT_METRICS_SERVER_IMAGE" \
    --file "$BIN/metrics-server:/metrics-server" --entrypoint /metrics-server --user 65534:65534
  # the chart's image: /usr/local/bin/traefik as ENTRYPOINT; the pod runs it as 65532
  "$BIN/k3s" oci-archive --out "$img/traefik.tar" --name "$INPUT_TRAEFIK_IMAGE" \
    --file "$BIN/traefik:/usr/local/bin/traefik" --entrypoint /usr/local/bin/traefik --user 65532:65532
  # only the node needs these; they are inside the OCI archives now
  rm -f "$BIN/coredns" "$BIN/local-path-provisioner" "$BIN/metrics-server" "$BIN/traefik"
}

step "k3s (kubernetes+etcd) + kube-router" build_k3s
step "containerd+shim+ctr" build_containerd
step "runc" build_runc
step "cni plugins" build_cni
step "coredns" build_coredns
step "local-path-provisioner" build_local_path
step "metrics-server" build_metrics_server
step "traefik" build_traefik
step "gateway-api crds" gateway_api_crds
step "pause" build_pause
step "oci archives" oci_archives
"$BIN/k3s" version >&2
du -sh "$BIN"/* "$CONTEXT_DIR/cni" "$CONTEXT_DIR/images"/* "$CONTEXT_DIR/addons"/*/* | sed 's/^/k3s: /' >&2
