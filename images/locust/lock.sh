#!/usr/bin/env bash
# Regenerates requirements.txt, the hash-pinned lock the image installs with
# `pip install --require-hashes --no-deps`, from requirements.in.
#
#   bash images/locust/lock.sh
#
# Same resolution as the app recipes (images/litellm/lock.sh): CPython 3.11 on Debian bookworm,
# x86_64, wheels only, a pinned uv; --exclude-newer is the upload time of the Locust release.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXCLUDE_NEWER=2026-10-21T21:00:00Z # locust 2.47.0 was uploaded 2026-10-21T20:30Z

. "$here/../lib/uv-tools.sh"

cd "$here"
uv pip compile requirements.in \
  --no-config --index-url https://pypi.org/simple \
  --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
  --only-binary :all: --generate-hashes \
  --exclude-newer "$EXCLUDE_NEWER" \
  --custom-compile-command 'bash images/locust/lock.sh' \
  --output-file requirements.txt >/dev/null
echo "locust: wrote $here/requirements.txt ($(grep -c '^[A-Za-z]' requirements.txt) packages)"
