#!/usr/bin/env bash
# Entrypoint of chatstack.local/redis. It keeps the run-time contract of the official redis image's
# entrypoint, written for this recipe:
#   - options (first argument starting with `-`) or a config file (`*.conf`) alone mean
#     `redis-server <them>`; any other command is exec'd as given.
#   - protected mode is off unless the arguments or the config file set it: upstream compiles
#     that default into its redis-server (reaching the port is decided by who publishes it, or in
#     Kubernetes by NetworkPolicy), Debian's binary keeps Redis' own default (on), which would
#     refuse every client from another address while no password is set.
#   - started as root (plain `docker run`) it gives redis the data files in the working
#     directory and steps down to redis (999:999); as any other UID (Kubernetes runAsUser, read
#     only root filesystem) it runs as that UID and writes only to the working directory (/data).
#   - umask 0077 unless the caller chose one, so dump files are private.
set -Eeo pipefail

self="${0##*/}"
warn() { printf '%s: warning: %s\n' "$self" "$*" >&2; }

# True when protected-mode is set on the command line or in the config file (the first argument
# after the binary, when it is not an option).
protected_mode_set() {
  local arg
  for arg; do [[ "$arg" == --protected-mode ]] && return 0; done
  if [[ -n "${1-}" && "$1" != -* && -r "$1" ]]; then
    grep -Eiq '^[[:space:]]*protected-mode[[:space:]]' "$1" && return 0
  fi
  return 1
}

# CAP_SETUID and CAP_SETGID in the effective set: without them (e.g. --cap-drop ALL as root)
# there is no stepping down, and redis runs as root like upstream's does then.
can_switch_user() {
  local key value
  while read -r key value; do
    [[ "$key" == CapEff: ]] && (( (16#$value & 0xc0) == 0xc0 )) && return 0
  done </proc/self/status
  return 1
}

if [[ "${1-}" == -* || "${1-}" == *.conf ]]; then
  set -- redis-server "$@"
fi

if [[ "${1##*/}" == redis-server ]]; then
  protected_mode_set "${@:2}" || set -- "$@" --protected-mode no

  if [[ "$(id -u)" == 0 && -z "${SKIP_DROP_PRIVS-}" ]] && can_switch_user; then
    if [[ -z "${SKIP_FIX_PERMS-}" ]]; then
      # Only what Redis itself writes here (the directory, RDB files, the AOF directory), not
      # whatever else a user mounted into it.
      shopt -s nullglob
      owned=(. ./*.rdb)
      shopt -u nullglob
      find "${owned[@]}" -maxdepth 0 ! -user redis -exec chown redis:redis {} + \
        || warn "could not give redis the data files in $PWD (SKIP_FIX_PERMS=1 skips this)"
      if [[ -d appendonlydir ]]; then
        find appendonlydir ! -user redis -exec chown redis:redis {} + \
          || warn "could not give redis $PWD/appendonlydir (SKIP_FIX_PERMS=1 skips this)"
      fi
    fi
    exec setpriv --reuid=redis --regid=redis --clear-groups -- "$0" "$@"
  fi

  [[ "$(umask)" != 0022 ]] || umask 0077
fi

exec "$@"
