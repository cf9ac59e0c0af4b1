#!/usr/bin/env bash
# Build Prometheus and promtool (github.com/prometheus/prometheus v$INPUT_PROMETHEUS_RELEASE,
# module version $INPUT_PROMETHEUS) together, in one `go build`, as static binaries, from the Go
# module proxy, into $CONTEXT_DIR.
#
# A test fixture: Prometheus scrapes what the monitoring component's PodMonitor selects and
# evaluates its PrometheusRule; promtool unit-tests the alerts. Service discovery is trimmed as
# upstream's plugins.yml allows (remove_all_sd, then enable_kubernetes_sd: the only discovery the
# fixture uses), like the node's trimmed CoreDNS. The web UI's assets are not in the module zip
# (upstream builds them with npm and embeds them with the builtinassets tag): the HTTP API, the
# rule and alert endpoints and /metrics work without them; the UI pages answer 404.
# ./src/go.mod requires the release and go.sum pins every module; `go build` runs -mod=readonly.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CONTEXT_DIR:?CONTEXT_DIR must be set}"
: "${INPUT_PROMETHEUS:=v0.316.0}" "${INPUT_PROMETHEUS_RELEASE:=3.16.0}" "${INPUT_GO_MIN:=1.26.7}"
: "${INPUT_TAGS:=remove_all_sd,enable_kubernetes_sd,netgo}"
. "$HERE/go-build.sh"
go_toolchain prometheus "$INPUT_GO_MIN"
cd "$HERE/src"
go_pinned prometheus github.com/prometheus/prometheus "$INPUT_PROMETHEUS"

t0=$(date +%s)
# -s -w and the version variables as upstream's promu (.promu.yml) sets them.
v=github.com/prometheus/common/version
CGO_ENABLED=0 go build -mod=readonly -trimpath -tags "$INPUT_TAGS" \
  -ldflags "-s -w -X $v.Version=$INPUT_PROMETHEUS_RELEASE -X $v.Revision=$INPUT_PROMETHEUS -X $v.Branch=HEAD -X $v.BuildUser=chatstack" \
  -o "$CONTEXT_DIR/" github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool
echo "prometheus: prometheus and promtool built in $(($(date +%s) - t0)) s" >&2

# Upstream's image ships the example config as /etc/prometheus/prometheus.yml; the module cache's
# copy is read-only, so copy it out writable (the factory wipes the context).
moddir="$(go list -m -mod=readonly -f '{{.Dir}}' github.com/prometheus/prometheus)"
install -m 0644 "$moddir/documentation/examples/prometheus.yml" "$CONTEXT_DIR/prometheus.yml"

"$CONTEXT_DIR/prometheus" --version >&2
du -sh "$CONTEXT_DIR/prometheus" "$CONTEXT_DIR/promtool" | sed 's/^/prometheus: /' >&2
