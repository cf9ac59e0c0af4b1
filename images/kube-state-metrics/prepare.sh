#!/usr/bin/env bash
# Build kube-state-metrics (k8s.io/kube-state-metrics/v2, release $INPUT_KSM) as a static binary
# from the Go module proxy into $CONTEXT_DIR, with the flags of upstream's `make build-local`
# (CGO off, -s -w, the version stamped into prometheus/common/version). ./src/go.mod names it as a
# `tool` and go.sum pins every module; `go build` runs -mod=readonly.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CONTEXT_DIR:?CONTEXT_DIR must be set}"
: "${INPUT_KSM:=v2.20.0}" "${INPUT_GO_MIN:=1.26}"
. "$HERE/go-build.sh"
go_toolchain kube-state-metrics "$INPUT_GO_MIN"
cd "$HERE/src"
go_pinned kube-state-metrics k8s.io/kube-state-metrics/v2 "$INPUT_KSM"

t0=$(date +%s)
CGO_ENABLED=0 go build -mod=readonly -trimpath \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=$INPUT_KSM" \
  -o "$CONTEXT_DIR/kube-state-metrics" k8s.io/kube-state-metrics/v2
echo "kube-state-metrics: built in $(($(date +%s) - t0)) s" >&2
"$CONTEXT_DIR/kube-state-metrics" version >&2
du -sh "$CONTEXT_DIR/kube-state-metrics" | sed 's/^/kube-state-metrics: /' >&2
