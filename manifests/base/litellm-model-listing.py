"""Chat clients list chat models only.

Open WebUI offers every model LiteLLM's /v1/models lists in its chat picker; the embedding model
its knowledge bases use (litellm-config.yaml, `model_info.mode: embedding`) would be offered there
too, and could only answer errors. This callback removes every model group whose deployments are
all embedding models from LiteLLM's listings (/v1/models, /model/info, /model_group/info). It only
hides them from lists: /v1/embeddings still serves them. It overrides no request or streaming
hook, so chats pass through it untouched.
"""

from litellm.integrations.custom_logger import CustomLogger


class ChatModelsOnly(CustomLogger):
    async def async_filter_listed_models(self, user_api_key_dict, model_names):
        from litellm.proxy.proxy_server import llm_router

        if llm_router is None:
            return model_names
        modes: dict = {}
        for row in llm_router.get_model_list() or []:
            mode = (row.get("model_info") or {}).get("mode")
            modes.setdefault(row["model_name"], set()).add(mode)
        return [name for name in model_names if modes.get(name) != {"embedding"}]


chat_models_only = ChatModelsOnly()
