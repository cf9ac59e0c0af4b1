#!/usr/bin/env bash
# Regenerates requirements.txt, the hash-pinned lock the image installs with
# `pip install --require-hashes --no-deps`:
#   - open-webui itself (image.json inputs.openWebui), without its dependencies (its hard dependencies pull PyTorch,
#     sentence-transformers, chromadb, faster-whisper ... : several GB the chat path never uses);
#   - the "slim" dependency set the wheel ships as requirements-slim.txt (extracted here into
#     requirements-slim.in), plus the packages the full image's code imports when it starts
#     (requirements-full-imports.in: chromadb, pydub and the Azure/GCS storage SDKs, at the exact
#     pins of the wheel's Requires-Dist), resolved together with everything they need. So the image
#     runs the full build's code paths (USE_SLIM_DOCKER=false, embedded Chroma) without PyTorch.
#
#   bash images/open-webui/lock.sh            (images/open-webui-previous/lock.sh links here)
#
# Resolved by compile_for_image (../lib/uv-tools.sh) as of the release's upload time
# (image.json inputs.excludeNewer), so the resolution is reproducible and never newer than the
# release. Needs python3 (>= 3.8, with venv) and the PyPI index.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib/uv-tools.sh"
VERSION="$(image_input openWebui)"
EXCLUDE_NEWER="$(image_input excludeNewer)"
recipe="$(basename "$here")"
compile() { compile_for_image "$@" --no-header --quiet; }
cd "$here"

# The slim set, exactly as the release ships it.
echo "open-webui==$VERSION" >"$tools/open-webui.in"
compile "$tools/open-webui.in" --no-deps --no-annotate --output-file "$tools/open-webui.txt"
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
# google-cloud-storage; boto3, which 0.12 moved into the slim set), routers/audio (pydub).
{
  echo "# Requires-Dist pins of open_webui-$VERSION for what its non-slim code imports at start."
  echo "# Written by lock.sh: do not edit."
  python3 - "$tools"/wheel/open_webui-"$VERSION"-*.whl requirements-slim.in <<'PY'
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = z.read(next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))).decode()
slim = set(re.findall(r'^([A-Za-z0-9_.-]+)\s*==', open(sys.argv[2]).read(), re.M))
wanted = [w for w in ['chromadb', 'pydub', 'azure-storage-blob', 'google-cloud-storage', 'boto3'] if w not in slim]
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
  --output-file "$tools/slim.txt"
{
  echo "# Hash-pinned lock of the $recipe image: do not edit, run bash images/$recipe/lock.sh"
  echo "# open-webui $VERSION itself (installed without its declared dependencies):"
  cat "$tools/open-webui.txt"
  echo "# The release's slim dependency set (requirements-slim.in) and the full build's start-time"
  echo "# imports (requirements-full-imports.in), resolved:"
  # (the constraints file is a temporary one: named without its path, so re-locking is reproducible)
  sed "s#-c $tools/full-pins.txt#-c the wheel's own pins#" "$tools/slim.txt"
} >requirements.txt
echo "$recipe: wrote $here/requirements.txt ($(grep -c '^[A-Za-z]' requirements.txt) packages)"
