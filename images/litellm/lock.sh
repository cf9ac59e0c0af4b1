#!/usr/bin/env bash
# Regenerates requirements.txt, the hash-pinned lock the image installs with
# `pip install --require-hashes --no-deps`, from requirements.in (+ overrides.txt).
#
#   bash images/litellm/lock.sh
#
# Resolves for the image's interpreter (CPython 3.11, Debian bookworm = glibc 2.36, x86_64),
# wheels only (nothing is built from source, so no unpinned build dependencies), with a pinned
# uv in a throwaway venv. --exclude-newer is the upload time of the LiteLLM release: the
# resolution is reproducible and never newer than what the upstream image could have shipped.
# Needs python3 (>= 3.8, with venv) and the PyPI index.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXCLUDE_NEWER=2026-11-19T07:00:00Z # litellm 1.108.12 was uploaded 2026-11-19T06:47Z

. "$here/../lib/uv-tools.sh"

cd "$here"
uv pip compile requirements.in \
  --override overrides.txt \
  --no-config --index-url https://pypi.org/simple \
  --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
  --only-binary :all: --generate-hashes \
  --exclude-newer "$EXCLUDE_NEWER" \
  --custom-compile-command 'bash images/litellm/lock.sh' \
  --output-file requirements.txt >/dev/null
echo "litellm: wrote $here/requirements.txt ($(grep -c '^[A-Za-z]' requirements.txt) packages)"
