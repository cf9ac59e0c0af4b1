#!/usr/bin/env bash
# Compile the static pause binary into the build context ($CONTEXT_DIR/pause).
set -euo pipefail
if ! command -v gcc >/dev/null || [[ ! -e /usr/lib/x86_64-linux-gnu/libc.a && ! -e /usr/lib/$(uname -m)-linux-gnu/libc.a ]]; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "pause: needs gcc and libc6-dev (static libc): apt-get install gcc libc6-dev" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi
gcc -Os -Wall -Werror -static -DVERSION="\"$INPUT_VERSION\"" -o "$CONTEXT_DIR/pause" pause.c
strip "$CONTEXT_DIR/pause"
"$CONTEXT_DIR/pause" -v
