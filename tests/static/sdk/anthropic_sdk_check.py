"""The official Anthropic Python SDK against the fake upstream: every call the stack's clients make,
parsed by the SDK's own models and error classes. Prints one JSON object of what it saw.

Usage: anthropic_sdk_check.py BASE_URL API_KEY MODEL
"""

import json
import sys

import anthropic


def main() -> None:
    base_url, api_key, model = sys.argv[1:4]
    client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)
    messages = [{"role": "user", "content": "Hello from the Python SDK"}]
    seen: dict[str, object] = {"sdk": anthropic.__version__}

    message = client.messages.create(model=model, max_tokens=64, messages=messages)
    seen["message"] = {
        "type": message.type,
        "role": message.role,
        "stop_reason": message.stop_reason,
        "text": message.content[0].text,
        "usage": [message.usage.input_tokens, message.usage.output_tokens],
    }

    events: set[str] = set()
    deltas = ""
    with client.messages.stream(model=model, max_tokens=64, messages=messages) as stream:
        for event in stream:
            events.add(event.type)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                deltas += event.delta.text
        final = stream.get_final_message()
    seen["stream"] = {"events": sorted(events), "deltas": deltas, "text": final.content[0].text}

    seen["count_tokens"] = client.messages.count_tokens(model=model, messages=messages).input_tokens
    seen["models"] = [m.id for m in client.models.list()]

    errors: dict[str, object] = {}
    try:
        anthropic.Anthropic(base_url=base_url, api_key=api_key + "x", max_retries=0).messages.create(
            model=model, max_tokens=8, messages=messages
        )
    except anthropic.AuthenticationError as e:
        errors["401"] = [type(e).__name__, e.status_code, e.body["error"]["type"]]
    try:
        client.messages.create(model=model, max_tokens=0, messages=messages)
    except anthropic.BadRequestError as e:
        errors["400"] = [type(e).__name__, e.status_code, e.body["error"]["type"]]
    for directive, status in [("rate_limit retry_after=2", "429"), ("overloaded", "529"), ("api_error", "500")]:
        try:
            client.messages.create(
                model=model, max_tokens=8, messages=[{"role": "user", "content": f"[[fault {directive}]]"}]
            )
        except anthropic.APIStatusError as e:
            errors[status] = [type(e).__name__, e.status_code, e.body["error"]["type"], e.response.headers.get("retry-after")]
    seen["errors"] = errors
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
