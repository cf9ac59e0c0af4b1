#!/usr/bin/env bash
# Regenerates requirements.txt, the hash-pinned lock the image installs with
# `pip install --require-hashes --no-deps`, from requirements.in (+ overrides.txt).
#
#   bash images/litellm/lock.sh            (images/litellm-previous/lock.sh links here)
#
# The release's upload time (image.json inputs.excludeNewer) bounds the resolution; see
# compile_for_image in ../lib/uv-tools.sh. Needs python3 (>= 3.8, with venv) and the PyPI index.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib/uv-tools.sh"
EXCLUDE_NEWER="$(image_input excludeNewer)"
recipe="$(basename "$here")"

cd "$here"
compile_for_image requirements.in --override overrides.txt \
  --custom-compile-command "bash images/$recipe/lock.sh" --output-file requirements.txt
echo "$recipe: wrote $here/requirements.txt ($(grep -c '^[A-Za-z]' requirements.txt) packages)"
