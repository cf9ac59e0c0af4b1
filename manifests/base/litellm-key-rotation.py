"""A second master key for LiteLLM, for rotating the first without a failed request.

LiteLLM without a database accepts exactly one key, its master key, read at start. Open WebUI and
LiteLLM roll at their own pace, so a key changed in one apply is refused for as long as old and new
pods overlap. With this module as `general_settings.custom_auth`, LiteLLM also accepts
LITELLM_EXTRA_MASTER_KEY while it is set, by handing its own auth the master key in its place (the
enterprise auth hook takes a returned string as the key to check; every other key, and a missing
one, goes to LiteLLM's auth as given). The rotation, in three applies (docs/operations.md,
"Rotating secrets"):
  1. LITELLM_EXTRA_MASTER_KEY=<new key>: every LiteLLM pod accepts both;
  2. LITELLM_MASTER_KEY=<new key>, LITELLM_EXTRA_MASTER_KEY=<old key>: Open WebUI switches over;
  3. LITELLM_EXTRA_MASTER_KEY removed: the old key is refused.
"""

import hmac
import os


async def user_api_key_auth(request, api_key):
    extra = os.environ.get("LITELLM_EXTRA_MASTER_KEY", "")
    if extra and api_key and hmac.compare_digest(api_key.encode(), extra.encode()):
        return os.environ["LITELLM_MASTER_KEY"]
    return None
