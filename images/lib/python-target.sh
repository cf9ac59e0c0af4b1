# Sourced by uv-tools.sh and pip-wheels.sh: the interpreter a Python recipe's image runs, read
# from its image.json `inputs.python` ("3.13 (Debian trixie)"), so the lock, the downloaded
# wheels and the image's Debian suite can never disagree. Sets PY_VERSION (3.13), PY_ABI (cp313)
# and PY_GLIBC (the suite's glibc minor: manylinux_2_<PY_GLIBC> is the newest wheel tag it runs).
python_target() {
  local spec
  spec="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["inputs"]["python"])' "$1/image.json")"
  PY_VERSION="${spec%% *}"
  PY_ABI="cp${PY_VERSION/./}"
  case "$spec" in
    *bookworm*) PY_GLIBC=36 ;;
    *trixie*) PY_GLIBC=41 ;;
    *) echo "$1/image.json: inputs.python \"$spec\" names no Debian suite this script knows (bookworm, trixie)" >&2; return 1 ;;
  esac
}
