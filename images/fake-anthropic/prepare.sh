#!/usr/bin/env bash
# Fill the build context with what the Dockerfile copies:
#   node  the project's Node binary (npm package `node`, pinned by package-lock.json): a real ELF
#         that needs only glibc and libstdc++, both in the Debian base. Debian's own nodejs is 18,
#         which cannot run TypeScript, so the image carries this one instead.
#   app/  the fake's sources (app/*.ts are symlinks to fake-anthropic/src/ so that the recipe hash
#         follows them; real copies go into the context) and a package.json saying "type": "module".
set -euo pipefail
die() { echo "fake-anthropic: $*" >&2; exit 1; }

repo="$(cd "$RECIPE_DIR/../.." && pwd)" # pinned: inputs.node (the version is checked below)
node_bin="$(readlink -f "$repo/node_modules/.bin/node" 2>/dev/null || true)"
[[ -n "$node_bin" && -x "$node_bin" ]] || die "no $repo/node_modules/.bin/node: run 'npm ci' first"
version="$("$node_bin" --version)"
[[ "$version" == "v$INPUT_NODE" ]] ||
  die "node_modules has Node $version but image.json pins $INPUT_NODE: update inputs.node in images/fake-anthropic/image.json"
case "$(uname -m)" in x86_64 | aarch64) ;; *) die "unsupported host architecture $(uname -m)" ;; esac

rm -f "$CONTEXT_DIR/node"
if command -v strip >/dev/null; then
  strip -o "$CONTEXT_DIR/node" "$node_bin" # drops ~17 MB of debug info
else
  cp "$node_bin" "$CONTEXT_DIR/node"
fi
chmod 0755 "$CONTEXT_DIR/node"

rm -rf "$CONTEXT_DIR/app"
mkdir -p "$CONTEXT_DIR/app"
for f in "$RECIPE_DIR"/app/*; do
  cp -L "$f" "$CONTEXT_DIR/app/$(basename "$f")"
done
chmod 0644 "$CONTEXT_DIR"/app/*

# The copied files must load: without a key the entrypoint has to refuse clearly (exit 2).
set +e
out="$(env -i PATH=/usr/bin:/bin "$CONTEXT_DIR/node" --disable-warning=ExperimentalWarning "$CONTEXT_DIR/app/main.ts" 2>&1)"
code=$?
set -e
[[ $code == 2 && "$out" == *FAKE_ANTHROPIC_API_KEY* ]] || die "entrypoint self-check failed (exit $code): $out"
echo "fake-anthropic: context ready (node $version, $(du -sh "$CONTEXT_DIR/node" | cut -f1))"
