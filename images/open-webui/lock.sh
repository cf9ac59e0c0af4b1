#!/usr/bin/env bash
# Regenerates requirements.txt, the hash-pinned lock the image installs with
# `pip install --require-hashes --no-deps`:
#   - open-webui==0.12.4 itself, without its dependencies (its hard dependencies pull PyTorch,
#     sentence-transformers, chromadb, faster-whisper ... : several GB the chat path never uses);
#   - the "slim" dependency set the wheel ships as requirements-slim.txt (extracted here into
#     requirements-slim.in), plus the packages the full image's code imports when it starts
#     (requirements-full-imports.in: chromadb, pydub and the Azure/GCS storage SDKs, at the exact
#     pins of the wheel's Requires-Dist), resolved together with everything they need. So the image
#     runs the full build's code paths (USE_SLIM_DOCKER=false, embedded Chroma) without PyTorch.
#
#   bash images/open-webui/lock.sh
#
# Resolves for the image's interpreter (CPython 3.11, Debian bookworm = glibc 2.36, x86_64),
# wheels only, with a pinned uv in a throwaway venv. --exclude-newer is the upload time of the
# Open WebUI release, so the resolution is reproducible and never newer than the release.
# Needs python3 (>= 3.8, with venv) and the PyPI index.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION=0.12.4
EXCLUDE_NEWER=2026-10-25T08:10:00Z # open-webui 0.12.4 was uploaded 2026-10-25T08:09Z

. "$here/../lib/uv-tools.sh"
compile() {
  uv pip compile "$@" \
    --no-config --index-url https://pypi.org/simple \
    --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
    --only-binary :all: --generate-hashes --exclude-newer "$EXCLUDE_NEWER" \
    --no-header --quiet
}
cd "$here"

# The slim set, exactly as the release ships it.
echo "open-webui==$VERSION" >"$tools/open-webui.in"
compile "$tools/open-webui.in" --no-deps --no-annotate --output-file "$tools/open-webui.txt" >/dev/null
"$tools/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
  --require-hashes -r "$tools/open-webui.txt" --dest "$tools/wheel"
{
  echo "# requirements-slim.txt of open_webui-$VERSION-py3-none-any.whl, verbatim below this header."
  echo "# Written by lock.sh: do not edit."
  python3 -c 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read("requirements-slim.txt").decode())' \
    "$tools"/wheel/open_webui-"$VERSION"-*.whl
} >requirements-slim.in

# What the full build imports at start that the slim set lacks, pinned as the wheel pins them:
# config.py (chromadb, when VECTOR_DB=chroma), storage/provider.py (azure-storage-blob,
# google-cloud-storage), routers/audio (pydub).
{
  echo "# Requires-Dist pins of open_webui-$VERSION for what its non-slim code imports at start."
  echo "# Written by lock.sh: do not edit."
  python3 - "$tools"/wheel/open_webui-"$VERSION"-*.whl <<'PY'
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = z.read(next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))).decode()
wanted = ['chromadb', 'pydub', 'azure-storage-blob', 'google-cloud-storage']
pins = dict(re.findall(r'^Requires-Dist: ([A-Za-z0-9_.-]+)==([^\s;]+)$', meta, re.M))
missing = [w for w in wanted if w not in pins]
if missing:
    sys.exit(f'open-webui: the wheel no longer pins {missing}')
print('\n'.join(f'{w}=={pins[w]}' for w in wanted))
PY
} >requirements-full-imports.in
# Every package the full build pins stays at that pin here too (onnxruntime under chromadb, ...).
python3 - "$tools"/wheel/open_webui-"$VERSION"-*.whl >"$tools/full-pins.txt" <<'PY'
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = z.read(next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))).decode()
for name, version, marker in re.findall(r'^Requires-Dist: ([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;]+)\s*(;.*)?$', meta, re.M):
    if 'extra ==' not in marker:
        print(f'{name}=={version}')
PY

compile requirements-slim.in requirements-full-imports.in --constraints "$tools/full-pins.txt" \
  --output-file "$tools/slim.txt" >/dev/null
{
  echo "# Hash-pinned lock of the open-webui image: do not edit, run bash images/open-webui/lock.sh"
  echo "# open-webui $VERSION itself (installed without its declared dependencies):"
  cat "$tools/open-webui.txt"
  echo "# The release's slim dependency set (requirements-slim.in) and the full build's start-time"
  echo "# imports (requirements-full-imports.in), resolved:"
  cat "$tools/slim.txt"
} >requirements.txt
echo "open-webui: wrote $here/requirements.txt ($(grep -c '^[A-Za-z]' requirements.txt) packages)"
