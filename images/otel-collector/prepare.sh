#!/usr/bin/env bash
# Build an OpenTelemetry Collector (go.opentelemetry.io/collector v0.165.0, core modules v1.71.0)
# with the components the tests use, the OTLP receiver and the debug exporter, as a static binary
# from the Go module proxy, into $CONTEXT_DIR. ./src/main.go is the main the collector's builder
# (ocb) would generate for that component list, written out by hand; ./src/go.mod and go.sum pin
# every module and `go build` runs -mod=readonly.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CONTEXT_DIR:?CONTEXT_DIR must be set}"
: "${INPUT_OTELCOL:=v0.165.0}" "${INPUT_GO_MIN:=1.26.7}"
. "$HERE/go-build.sh"
go_toolchain otel-collector "$INPUT_GO_MIN"
cd "$HERE/src"
go_pinned otel-collector go.opentelemetry.io/collector/otelcol "$INPUT_OTELCOL"

t0=$(date +%s)
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$CONTEXT_DIR/otelcol" .
echo "otel-collector: built in $(($(date +%s) - t0)) s" >&2
"$CONTEXT_DIR/otelcol" --version >&2
du -sh "$CONTEXT_DIR/otelcol" | sed 's/^/otel-collector: /' >&2
