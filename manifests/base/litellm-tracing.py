"""OpenTelemetry traces, when components/tracing gives LiteLLM a collector.

LiteLLM's own `otel` callback exports to the console when no exporter is configured, and a
callback list in config.yaml cannot differ per overlay. So config.yaml names this module: with
OTEL_EXPORTER_OTLP_ENDPOINT set (components/tracing), it is LiteLLM's OpenTelemetry integration,
configured from the OTEL_* environment, which continues the caller's trace (Open WebUI's W3C
`traceparent` header), so one chat is one trace across both; without it, a callback that does
nothing.
"""

import os

from litellm.integrations.custom_logger import CustomLogger


def _traces():
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return CustomLogger()
    from litellm.integrations.opentelemetry import OpenTelemetry

    return OpenTelemetry()


when_configured = _traces()
