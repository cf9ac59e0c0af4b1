#!/usr/bin/env bash
# Build crane (github.com/google/go-containerregistry/cmd/crane, release $INPUT_GGCR) as a static
# binary from the Go module proxy into $CONTEXT_DIR, with the flags of upstream's .goreleaser.yml
# (CGO off, -trimpath, -s -w, the version stamped into crane and its User-Agent).
#
# crane is both halves of the fixture: `crane registry serve` is the registry server (ggcr's
# pkg/registry, blobs on disk with --disk) and the rest of crane is the client. ggcr's own
# cmd/registry wraps the same handler but is not usable in a container: it listens on
# localhost:<port> only (unreachable through a published port or from another container) and
# keeps blobs in memory. ./src/go.mod names crane as a `tool` and go.sum pins every module;
# `go build` runs -mod=readonly.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CONTEXT_DIR:?CONTEXT_DIR must be set}"
: "${INPUT_GGCR:=v0.22.1}" "${INPUT_GO_MIN:=1.26}"
. "$HERE/go-build.sh"
go_toolchain registry "$INPUT_GO_MIN"
cd "$HERE/src"
go_pinned registry github.com/google/go-containerregistry "$INPUT_GGCR"

t0=$(date +%s)
m=github.com/google/go-containerregistry
CGO_ENABLED=0 go build -mod=readonly -trimpath \
  -ldflags "-s -w -X $m/cmd/crane/cmd.Version=$INPUT_GGCR -X $m/pkg/v1/remote/transport.Version=$INPUT_GGCR" \
  -o "$CONTEXT_DIR/crane" $m/cmd/crane
# The blob directory, empty, for the image to own (FROM scratch has no mkdir).
install -d -m 0755 "$CONTEXT_DIR/blobs"
echo "registry: crane built in $(($(date +%s) - t0)) s" >&2
"$CONTEXT_DIR/crane" version >&2
du -sh "$CONTEXT_DIR/crane" | sed 's/^/registry: /' >&2
