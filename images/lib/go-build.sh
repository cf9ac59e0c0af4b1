# Shared by the recipes that compile Go modules from the module proxy (linked into each recipe as
# go-build.sh and sourced by its prepare.sh; a recipe reads only files inside its directory).
# Go's build and module caches stay in their default places, so related builds share them.

# The compiler and linker collect garbage less often, as images/k3s/prepare.sh has them do: the
# collector from empty caches took 172 CPU-s instead of 194 (90 s instead of 103 s, 2026-12-07).
# Not in Go's cache keys. On a fresh machine these builds share the two cores with the node's
# compile, so the CPU they save is the node's wall time.
export GOGC="${GOGC:-400}"

# go_toolchain NAME MIN: a Go toolchain of at least MIN, used as it is (GOTOOLCHAIN=local: never
# downloaded), or a message naming what to install.
go_toolchain() {
  local name="$1" min="$2" have
  export GOTOOLCHAIN=local
  if ! command -v go >/dev/null; then
    echo "$name: needs a Go toolchain >= $min (https://go.dev/dl)" >&2
    exit 1
  fi
  have="$(go env GOVERSION)"
  if ! printf '%s\n' "go$min" "$have" | sort -V -C; then
    echo "$name: needs Go >= $min, have $have" >&2
    exit 1
  fi
}

# go_pinned NAME MODULE WANT: src/go.mod (the working directory's module) requires MODULE at WANT,
# the version image.json's inputs name (so a bump changes both, and the recipe hash).
go_pinned() {
  local name="$1" module="$2" want="$3" pinned
  pinned="$(go list -m -mod=readonly -f '{{.Version}}' "$module")"
  if [[ "$pinned" != "$want" ]]; then
    echo "$name: src/go.mod requires $module $pinned, image.json's inputs say $want" >&2
    exit 1
  fi
}
