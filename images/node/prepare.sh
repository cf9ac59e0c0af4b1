#!/usr/bin/env bash
# Fill the build context with ./node: the project's Node binary (npm package `node`), a real ELF
# that needs only glibc and libstdc++, both in the Debian base. Its version must be inputs.node.
set -euo pipefail
die() { echo "node: $*" >&2; exit 1; }

repo="$(cd "$RECIPE_DIR/../.." && pwd)" # pinned: inputs.node (the version is checked below)
node_bin="$(readlink -f "$repo/node_modules/.bin/node" 2>/dev/null || true)"
[[ -n "$node_bin" && -x "$node_bin" ]] || die "no $repo/node_modules/.bin/node: run 'npm ci' first"
version="$("$node_bin" --version)"
[[ "$version" == "v$INPUT_NODE" ]] ||
  die "node_modules has Node $version but image.json pins $INPUT_NODE: update inputs.node (and the tags) in images/node/image.json"
case "$(uname -m)" in x86_64 | aarch64) ;; *) die "unsupported host architecture $(uname -m)" ;; esac

rm -f "$CONTEXT_DIR/node"
if command -v strip >/dev/null; then
  strip -o "$CONTEXT_DIR/node" "$node_bin" # drops ~17 MB of debug info
else
  cp "$node_bin" "$CONTEXT_DIR/node"
fi
chmod 0755 "$CONTEXT_DIR/node"
echo "node: context ready (node $version, $(du -sh "$CONTEXT_DIR/node" | cut -f1))"
