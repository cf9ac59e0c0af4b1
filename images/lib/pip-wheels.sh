#!/usr/bin/env bash
# Shared by the Python app recipes (images/litellm, images/open-webui): their prepare.sh links here.
# Fills the build context with wheels/: every wheel requirements.txt pins, downloaded on the host
# and checked against the lock's hashes. The Dockerfile then installs offline (--no-index) with
# the same hashes checked again, so the image build itself needs no index and no TLS trust setup.
set -euo pipefail
die() { echo "$IMAGE_NAME: $*" >&2; exit 1; }
command -v python3 >/dev/null || die "needs python3 with pip on the host (Debian: apt-get install python3-pip)"
python3 -m pip --version >/dev/null 2>&1 || die "needs pip for python3 on the host (Debian: apt-get install python3-pip)"

# The image's interpreter (image.json inputs.python), x86_64. pip does not expand a manylinux_2_N
# platform to the older tags it implies, so list them all.
. "$RECIPE_DIR/python-target.sh"  # linked into each recipe, so it counts in the recipe hash
python_target "$RECIPE_DIR"
platforms=()
for minor in $(seq "$PY_GLIBC" -1 5); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)

# Wheels are kept in a host cache; the context gets them from there, offline and hash-checked.
# Only when a locked wheel is missing there is the index asked (again with hashes checked).
cache="${CHATSTACK_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatstack/wheels}"
mkdir -p "$cache"
# Images build two at a time: one recipe at a time fills the shared cache, so none reads a wheel
# another is still writing.
exec 9>"$cache/.lock"
flock 9
download() {
  python3 -m pip download --disable-pip-version-check --quiet \
    --no-deps --require-hashes --only-binary=:all: \
    "${platforms[@]}" --python-version "$PY_VERSION" --implementation cp --abi "$PY_ABI" \
    -r "$RECIPE_DIR/requirements.txt" "$@"
}
rm -rf "$CONTEXT_DIR/wheels"
if ! download --no-index --find-links "$cache" --dest "$CONTEXT_DIR/wheels" 2>/dev/null; then
  echo "$IMAGE_NAME: fetching locked wheels missing from $cache"
  download --dest "$cache"
  rm -rf "$CONTEXT_DIR/wheels"
  download --no-index --find-links "$cache" --dest "$CONTEXT_DIR/wheels"
fi
echo "$IMAGE_NAME: $(find "$CONTEXT_DIR/wheels" -name '*.whl' | wc -l) wheels, $(du -sh "$CONTEXT_DIR/wheels" | cut -f1)"
