#!/usr/bin/env bash
# Regenerates requirements.txt, the hash-pinned lock the image installs with
# `pip install --require-hashes --no-deps`, from requirements.in.
#
#   bash images/locust/lock.sh
#
# Resolved as the app images are (compile_for_image in ../lib/uv-tools.sh), as of the Locust
# release's upload time (image.json inputs.excludeNewer).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib/uv-tools.sh"
EXCLUDE_NEWER="$(image_input excludeNewer)"

cd "$here"
compile_for_image requirements.in --custom-compile-command 'bash images/locust/lock.sh' --output-file requirements.txt
echo "locust: wrote $here/requirements.txt ($(grep -c '^[A-Za-z]' requirements.txt) packages)"
