#!/bin/sh
# The entrypoint of ghcr.io/berriai/litellm-non_root (docker/prod_entrypoint.sh of the release):
# `exec litellm "$@"`. Its alternative launchers need programs this image does not carry
# (supervisord for SEPARATE_HEALTH_APP=1, ddtrace-run, newrelic-admin): asking for one fails
# clearly instead of silently starting something else.

if [ "$SEPARATE_HEALTH_APP" = "1" ]; then
    if ! command -v supervisord >/dev/null 2>&1; then
        echo "prod_entrypoint: SEPARATE_HEALTH_APP=1 needs supervisord, which this image does not include" >&2
        exit 64
    fi
    export LITELLM_ARGS="$@"
    export SUPERVISORD_STOPWAITSECS="${SUPERVISORD_STOPWAITSECS:-3600}"
    exec supervisord -c /etc/supervisord.conf
fi

if [ "$USE_DDTRACE" = "true" ]; then
    command -v ddtrace-run >/dev/null 2>&1 || { echo "prod_entrypoint: USE_DDTRACE=true needs ddtrace, which this image does not include" >&2; exit 64; }
    export DD_TRACE_OPENAI_ENABLED="False"
    exec ddtrace-run litellm "$@"
elif [ "$USE_NEWRELIC" = "true" ]; then
    command -v newrelic-admin >/dev/null 2>&1 || { echo "prod_entrypoint: USE_NEWRELIC=true needs newrelic, which this image does not include" >&2; exit 64; }
    exec newrelic-admin run-python litellm "$@"
else
    exec litellm "$@"
fi
