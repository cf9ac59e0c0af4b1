# The load of `npm run bench -- --load` (dev/bench/load.ts), run by Locust inside the cluster as a
# Job, so the port-forwards are not what is measured. For each target (the fake upstream, LiteLLM's
# Service, Open WebUI's API) and each concurrency, N Locust users stream chat completions back to
# back for a fixed time; every stream reports its time to first token (the first text delta) and
# its total time as Locust request events, which this script also keeps raw for exact percentiles.
# Prints one JSON line per cell, prefixed "RESULT ", for the driver to read from the pod's log.
#
# Env: BENCH_PLAN (JSON: {targets: [{name, url, protocol: anthropic|openai, headers, model}],
#      concurrency: [1, 10, 50], seconds: 20, words: 2, pauseSeconds: 3})
from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import requests  # noqa: E402
from locust import User, constant, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402

PLAN = json.loads(os.environ["BENCH_PLAN"])
TIMEOUT_S = 120


def first_text(protocol: str, line: bytes) -> bool:
    """True when an SSE line carries the first piece of generated text."""
    if not line.startswith(b"data:"):
        return False
    payload = line[5:].strip()
    if payload == b"[DONE]" or not payload:
        return False
    event = json.loads(payload)
    if protocol == "anthropic":
        return event.get("type") == "content_block_delta" and bool(event.get("delta", {}).get("text"))
    choices = event.get("choices") or []
    return bool(choices and (choices[0].get("delta") or {}).get("content"))


def error_of(protocol: str, line: bytes) -> str | None:
    """An error reported inside a 200 stream (both protocols send it as a data line)."""
    if not line.startswith(b"data:") or b'"error"' not in line:
        return None
    try:
        event = json.loads(line[5:].strip())
    except ValueError:
        return None
    err = event.get("error")
    return json.dumps(err)[:200] if err else None


def prompt(n: int) -> str:
    """PLAN["words"] words, unique per request (the fake echoes them back, one token each)."""
    return " ".join([f"bench{n}"] + ["word"] * (PLAN.get("words", 2) - 1))


def wait_reachable(target: dict) -> None:
    """One chat that succeeds before the clock starts: the NetworkPolicies that admit this pod
    may take a moment to be programmed, and the first request warms each hop's caches."""
    deadline = time.monotonic() + 60
    while True:
        try:
            r = requests.post(target["url"], headers=target["headers"], timeout=30, json={
                "model": target["model"], "max_tokens": 16, "stream": False,
                "messages": [{"role": "user", "content": "warm up"}]})
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}: {r.text[:200]}"
        except requests.RequestException as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            raise SystemExit(f"{target['name']} at {target['url']} not answering after 60 s: {last}")
        time.sleep(1)


class StreamingChat(User):
    """One client streaming chats back to back (closed loop: concurrency = users)."""

    wait_time = constant(0)
    target: dict = {}

    def on_start(self) -> None:
        self.session = requests.Session()
        self.n = 0

    @task
    def chat(self) -> None:
        t = self.target
        self.n += 1
        body = {
            "model": t["model"],
            "max_tokens": 256,
            "stream": True,
            "messages": [{"role": "user", "content": prompt(self.n)}],
        }
        start = time.perf_counter()
        ttft = None
        error = None
        overhead = None
        try:
            with self.session.post(t["url"], json=body, headers=t["headers"], stream=True, timeout=TIMEOUT_S) as r:
                # LiteLLM's own overhead measure (its handler's time outside the provider call, not
                # the wait before the handler runs): what upstream's benchmarks publish.
                overhead = r.headers.get("x-litellm-overhead-duration-ms")
                if r.status_code != 200:
                    error = f"HTTP {r.status_code}: {r.text[:200]}"
                else:
                    for line in r.iter_lines():
                        if ttft is None and first_text(t["protocol"], line):
                            ttft = (time.perf_counter() - start) * 1000
                        error = error or error_of(t["protocol"], line)
                    if ttft is None and error is None:
                        error = "the stream ended without any text"
        except Exception as e:  # a reset, a timeout: counted, never fatal to the run
            error = f"{type(e).__name__}: {e}"[:200]
        total = (time.perf_counter() - start) * 1000
        fire = self.environment.events.request.fire
        if error is None:
            fire(request_type="TTFT", name=t["name"], response_time=ttft, response_length=0, exception=None, context={})
            try:
                fire(request_type="OVERHEAD", name=t["name"], response_time=float(overhead), response_length=0, exception=None, context={})
            except (TypeError, ValueError):  # no such header (not LiteLLM), or "None"
                pass
        fire(request_type="TOTAL", name=t["name"], response_time=total, response_length=0,
             exception=RuntimeError(error) if error else None, context={})


def percentile(sorted_ms: list[float], q: float) -> float | None:
    if not sorted_ms:
        return None
    i = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return round(sorted_ms[i], 1)


def run_cell(target: dict, users: int, seconds: float) -> dict:
    samples: dict[str, list[float]] = {"TTFT": [], "TOTAL": [], "OVERHEAD": []}
    errors: dict[str, int] = {}

    def on_request(request_type, name, response_time, exception, **_kw):
        if exception is not None:
            key = str(exception)
            errors[key] = errors.get(key, 0) + 1
        else:
            samples[request_type].append(response_time)

    cls = type("Chat", (StreamingChat,), {"target": target})
    # stop_timeout: stopping lets every running stream finish instead of killing it half-way.
    env = Environment(user_classes=[cls], events=events, stop_timeout=TIMEOUT_S)
    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    t0 = time.perf_counter()
    runner.start(users, spawn_rate=users)
    gevent.sleep(seconds)
    # No new streams after the time is up; those running finish and are counted.
    runner.stop()
    elapsed = time.perf_counter() - t0
    env.events.request.remove_listener(on_request)
    ttft, total = sorted(samples["TTFT"]), sorted(samples["TOTAL"])
    return {
        "target": target["name"],
        "concurrency": users,
        "seconds": round(elapsed, 1),
        "completed": len(total),
        "errors": sum(errors.values()),
        "errorSamples": sorted(errors.items(), key=lambda kv: -kv[1])[:3],
        "rps": round(len(total) / elapsed, 2),
        "ttft": {q: percentile(ttft, p) for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
        "total": {q: percentile(total, p) for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
        "litellmOverhead": {q: percentile(sorted(samples["OVERHEAD"]), p) for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}
        if samples["OVERHEAD"] else None,
    }


def main() -> None:
    for target in PLAN["targets"]:
        wait_reachable(target)
    for users in PLAN["concurrency"]:
        # Hops side by side at each concurrency, so a drift of the machine hits them alike.
        for target in PLAN["targets"]:
            print("START " + json.dumps({"target": target["name"], "concurrency": users}), flush=True)
            print("RESULT " + json.dumps(run_cell(target, users, PLAN["seconds"])), flush=True)
            gevent.sleep(PLAN.get("pauseSeconds", 3))


if __name__ == "__main__":
    main()
