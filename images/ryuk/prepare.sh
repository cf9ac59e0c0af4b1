#!/usr/bin/env bash
# Build the standard-library-only reaper (this directory's main.go) as a static binary.
# Go's build and module caches stay in their default places.
set -euo pipefail
if ! command -v go >/dev/null; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "ryuk: needs a Go toolchain >= $INPUT_GO_MIN (Debian: apt-get install golang-go)" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >/dev/null
fi
GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod \
  go build -trimpath -ldflags '-s -w' -o "$CONTEXT_DIR/ryuk" .
go version
