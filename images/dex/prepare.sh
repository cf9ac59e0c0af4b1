#!/usr/bin/env bash
# Build Dex (github.com/dexidp/dex/cmd/dex, release $INPUT_DEX_RELEASE) as a static binary with
# CGO_ENABLED=0, from the Go module proxy, into $CONTEXT_DIR, and copy its web assets beside it.
#
# The proxy does not serve Dex's v2.x tags (the module path has no /v2), so ./src/go.mod requires
# the release commit's pseudo-version ($INPUT_DEX) and go.sum pins every module; `go build`
# runs -mod=readonly, so nothing moves unless this recipe changes. Dex's own go.mod has one
# replace, github.com/dexidp/dex/api/v2 => ./api/v2 (a nested module the zip leaves out); the
# release's api/v2 differs from the published api/v2 v2.4.0, which src/go.mod resolves to, only
# in its go.mod/go.sum, so no replace is needed here.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CONTEXT_DIR:?CONTEXT_DIR must be set}"
: "${INPUT_DEX:=v0.0.0-20260303133905-11d2eeb52b42}" "${INPUT_DEX_RELEASE:=v2.45.1}" "${INPUT_GO_MIN:=1.25}"
. "$HERE/go-build.sh"
go_toolchain dex "$INPUT_GO_MIN"
cd "$HERE/src"
go_pinned dex github.com/dexidp/dex "$INPUT_DEX"

t0=$(date +%s)
# -s -w and main.version as upstream's `make release-binary` (which links statically too).
CGO_ENABLED=0 go build -mod=readonly -trimpath \
  -ldflags "-s -w -X main.version=$INPUT_DEX_RELEASE" \
  -o "$CONTEXT_DIR/dex" github.com/dexidp/dex/cmd/dex
echo "dex: built in $(($(date +%s) - t0)) s" >&2

# The binary embeds web/ (go:embed); upstream's image also ships it at /srv/dex/web for
# `frontend.dir` / DEX_FRONTEND_DIR. The module cache's copy is read-only: make ours writable so
# the factory can wipe the context.
moddir="$(go list -m -mod=readonly -f '{{.Dir}}' github.com/dexidp/dex)"
rm -rf "$CONTEXT_DIR/web"
cp -R "$moddir/web" "$CONTEXT_DIR/web"
rm -f "$CONTEXT_DIR/web/web.go"
chmod -R u+w,go+r "$CONTEXT_DIR/web"
find "$CONTEXT_DIR/web" -type d -exec chmod 755 {} +

"$CONTEXT_DIR/dex" version >&2
du -sh "$CONTEXT_DIR/dex" "$CONTEXT_DIR/web" | sed 's/^/dex: /' >&2
