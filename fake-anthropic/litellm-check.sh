#!/usr/bin/env bash
# Manual check (not part of the test suite): does LiteLLM's own Anthropic translation code accept
# the fake's responses? Starts the fake on the host, calls litellm.completion() against it,
# non-streaming and streaming, and prints what LiteLLM made of them plus what the fake recorded.
#
#   bash fake-anthropic/litellm-check.sh
#
# Env: LITELLM_VERSION (default 1.110.2), VENV (default /tmp/fake-anthropic-litellm-venv, reused
# if present), PORT (default 18080), TOKEN_DELAY_MS (default 30).
#
# Plain `litellm` is installed, not `litellm[proxy]`: at 1.110.2 the proxy extra requires
# `litellm-proxy==1.110.2`, which PyPI does not have, so that extra cannot be installed; the
# completion() path used here lives in the base package anyway.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
NODE="$ROOT/node_modules/.bin/node"
LITELLM_VERSION="${LITELLM_VERSION:-1.110.2}"
VENV="${VENV:-/tmp/fake-anthropic-litellm-venv}"
PORT="${PORT:-18080}"
TOKEN_DELAY_MS="${TOKEN_DELAY_MS:-30}"
KEY="sk-ant-fake-check-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('litellm') == '$LITELLM_VERSION'" 2>/dev/null; then
  "$VENV/bin/pip" install -q "litellm==$LITELLM_VERSION"
fi

LOG="$(mktemp)"
FAKE_ANTHROPIC_API_KEY="$KEY" PORT="$PORT" TOKEN_DELAY_MS="$TOKEN_DELAY_MS" \
  "$NODE" "$HERE/src/main.ts" >"$LOG" 2>&1 &
FAKE_PID=$!
cleanup() {
  kill "$FAKE_PID" 2>/dev/null || true
  wait "$FAKE_PID" 2>/dev/null || true
  echo "--- fake-anthropic log ---"
  cat "$LOG"
  rm -f "$LOG"
}
trap cleanup EXIT

for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.1
done

URL="http://127.0.0.1:$PORT" KEY="$KEY" "$VENV/bin/python" - <<'PY'
import json, os, sys, time, urllib.request
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch of the cost map
import litellm

url, key = os.environ["URL"], os.environ["KEY"]
model = "anthropic/claude-sonnet-4-5-20250929"
messages = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hello fake Claude, how are you?"},
]
expected = "[claude-sonnet-4-5-20250929] Echo: Hello fake Claude, how are you?"
ok = True

import importlib.metadata
print(f"litellm {importlib.metadata.version('litellm')} -> {url}")

r = litellm.completion(model=model, api_base=url, api_key=key, messages=messages, max_tokens=200)
text = r.choices[0].message.content
print("non-stream content:", repr(text))
print("non-stream finish_reason:", r.choices[0].finish_reason, "usage:", r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens)
ok &= text == expected and r.choices[0].finish_reason == "stop"

t0 = time.monotonic()
stream = litellm.completion(model=model, api_base=url, api_key=key, messages=messages, max_tokens=200, stream=True,
                            stream_options={"include_usage": True})
parts, arrivals, finish, usage = [], [], None, None
for chunk in stream:
    if chunk.choices:
        d = chunk.choices[0].delta.content
        if d:
            parts.append(d)
            arrivals.append(round((time.monotonic() - t0) * 1000))
        finish = chunk.choices[0].finish_reason or finish
    u = getattr(chunk, "usage", None)
    if u:
        usage = u
joined = "".join(parts)
print("stream chunks:", parts)
print("stream arrival ms:", arrivals)
print("stream joined:", repr(joined), "finish_reason:", finish,
      "usage:", (usage.prompt_tokens, usage.completion_tokens) if usage else None)
ok &= joined == expected and finish == "stop" and len(parts) > 1

try:
    litellm.completion(model=model, api_base=url, api_key="wrong-key", messages=messages, max_tokens=20, num_retries=0)
    print("wrong key: no error?!"); ok = False
except Exception as e:  # noqa: BLE001
    print("wrong key ->", type(e).__name__, getattr(e, "status_code", None), str(e)[:200])
    ok &= getattr(e, "status_code", None) == 401

with urllib.request.urlopen(url + "/_fake/requests") as resp:
    recs = json.load(resp)
print("fake recorded", len(recs), "requests:")
for rec in recs:
    print(" ", rec["method"], rec["path"], rec["status"], "stream" if rec["stream"] else "json", json.dumps(rec["headers"]))
    print("    body:", json.dumps(rec["body"])[:400])
print("RESULT:", "OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
PY
