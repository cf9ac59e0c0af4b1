"""Prometheus metrics and OpenTelemetry traces, switched on by the components that need them.

A callback list in config.yaml cannot differ per overlay, and LiteLLM's `otel` callback exports to
the console when it has no endpoint. So config.yaml names these two entries, each LiteLLM's own
integration (made as LiteLLM makes it for the `prometheus` and `otel` callback names) when its
component set the environment, and otherwise a callback LiteLLM skips (a plain CustomLogger
overrides no hook):
- metrics: PROMETHEUS_METRICS_PORT (components/monitoring), the port a separate process serves
  /metrics on;
- traces: OTEL_EXPORTER_OTLP_ENDPOINT (components/tracing); LiteLLM's spans continue the caller's
  trace (Open WebUI's W3C `traceparent` header), so one chat is one trace across both.
"""

import os

from litellm.integrations.custom_logger import CustomLogger


def _integration(name: str, switch: str):
    if not os.environ.get(switch):
        return CustomLogger()
    from litellm.litellm_core_utils.litellm_logging import _init_custom_logger_compatible_class

    return _init_custom_logger_compatible_class(name, internal_usage_cache=None, llm_router=None)


metrics = _integration("prometheus", "PROMETHEUS_METRICS_PORT")
traces = _integration("otel", "OTEL_EXPORTER_OTLP_ENDPOINT")
