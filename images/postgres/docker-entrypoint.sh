#!/usr/bin/env bash
# Entrypoint of chatstack.local/postgres. It keeps the run-time contract of the docker-library
# postgres image (and so of pgvector/pgvector, which only adds the extension), written for this
# recipe:
#   - `postgres [args]` (or just `-c ...` args): on an empty $PGDATA, initdb with POSTGRES_USER /
#     POSTGRES_PASSWORD / POSTGRES_INITDB_ARGS, password auth for TCP clients from any address,
#     POSTGRES_DB created, /docker-entrypoint-initdb.d/* run once against a temporary server that
#     listens on the unix socket only; then exec the server (which listens on '*').
#   - any other command is exec'd as given.
#   - started as root it prepares the directories and steps down to postgres (999:999); started
#     as any other UID (Kubernetes runAsUser, read-only root filesystem) it writes only to
#     $PGDATA and /var/run/postgresql (and /tmp, if writable, for a UID without a passwd entry).
#   - as docker-ensure-initdb.sh / docker-enforce-initdb.sh it initialises and exits.
set -Eeuo pipefail

readonly PGBIN="/usr/lib/postgresql/${PG_MAJOR:-17}/bin"
readonly INITDB_DIR=/docker-entrypoint-initdb.d
readonly SOCKET_DIR=/var/run/postgresql
self="${0##*/}"

say() { printf '%s: %s\n' "$self" "$*"; }
die() { printf '%s: error: %s\n' "$self" "$*" >&2; exit 1; }

# NAME from NAME or from the file NAME_FILE names (Docker/Kubernetes secrets as files), never
# both, else DEFAULT. Exported: initdb.d scripts read them.
from_env_or_file() {
  local name="$1" file_name="${1}_FILE" value="${2-}"
  if [[ -n "${!name-}" && -n "${!file_name-}" ]]; then
    die "$name and $file_name are both set; set one of them"
  elif [[ -n "${!name-}" ]]; then
    value="${!name}"
  elif [[ -n "${!file_name-}" ]]; then
    [[ -r "${!file_name}" ]] || die "$file_name: cannot read ${!file_name}"
    value="$(<"${!file_name}")"
  fi
  export "$name=$value"
  unset "$file_name"
}

# Options with which postgres prints something and exits: no initialisation for those.
only_prints() {
  local arg
  for arg; do
    case "$arg" in -'?' | --help | -V | --version | --describe-config) return 0 ;; esac
  done
  return 1
}

# psql as the superuser over the unix socket (PGHOST/PGHOSTADDR from the caller's environment
# would point it at another server).
superuser_psql() {
  PGHOST='' PGHOSTADDR='' "$PGBIN/psql" -v ON_ERROR_STOP=1 --no-psqlrc --no-password \
    --username "$POSTGRES_USER" "$@"
}
# The same in POSTGRES_DB. The name is upstream's, for initdb.d scripts that call it.
docker_process_sql() {
  superuser_psql --dbname "$POSTGRES_DB" "$@"
}

run_initdb() {
  local args=()
  # Shell words, so that quoted values survive (e.g. --locale-provider=icu --icu-locale="de-DE").
  eval "args=(${POSTGRES_INITDB_ARGS})"
  [[ -n "${POSTGRES_INITDB_WALDIR-}" ]] && args+=(--waldir "$POSTGRES_INITDB_WALDIR")

  # initdb insists on a passwd entry for its UID; an arbitrary UID (OpenShift) has none, so
  # give it one through nss_wrapper, for initdb only.
  # Its two files go to $TMPDIR (/tmp), or to the socket directory when that is not writable.
  local uid gid preload=() wrapper tmp="${TMPDIR:-/tmp}"
  uid="$(id -u)"; gid="$(id -g)"
  [[ -w "$tmp" ]] || tmp="$SOCKET_DIR"
  if ! getent passwd "$uid" >/dev/null; then
    for wrapper in /usr/lib/*/libnss_wrapper.so; do
      [[ -s "$wrapper" ]] || continue
      local passwd group
      passwd="$(mktemp -p "$tmp")"; group="$(mktemp -p "$tmp")"
      printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$uid" "$gid" "$PGDATA" >"$passwd"
      printf 'postgres:x:%s:\n' "$gid" >"$group"
      preload=(env LD_PRELOAD="$wrapper" NSS_WRAPPER_PASSWD="$passwd" NSS_WRAPPER_GROUP="$group")
      break
    done
  fi
  # The password through a pipe, never on a command line or in a file.
  if [[ -n "$POSTGRES_PASSWORD" ]]; then
    "${preload[@]}" "$PGBIN/initdb" --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") "${args[@]}"
  else
    "${preload[@]}" "$PGBIN/initdb" --username="$POSTGRES_USER" "${args[@]}"
  fi
  if ((${#preload[@]})); then rm -f "$passwd" "$group"; fi
}

init_database() {
  # Server options given to the image (minus the leading `postgres`) apply to the temporary
  # server and to reading password_encryption, as they will to the real one.
  local server_args=("${@:2}")

  if [[ -z "$POSTGRES_PASSWORD" && "$POSTGRES_HOST_AUTH_METHOD" != trust ]]; then
    cat >&2 <<EOF
$self: error: the database in $PGDATA is not initialised and no superuser password is set.
  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value for the superuser
  "$POSTGRES_USER", e.g. -e POSTGRES_PASSWORD=... with docker run or a Secret in Kubernetes.
  POSTGRES_HOST_AUTH_METHOD=trust would let every client in without a password instead
  (not recommended: https://www.postgresql.org/docs/current/auth-trust.html).
EOF
    exit 1
  fi
  if [[ "$POSTGRES_HOST_AUTH_METHOD" == trust ]]; then
    say "WARNING: POSTGRES_HOST_AUTH_METHOD=trust: anyone who reaches port ${PGPORT:-5432} gets in without a password, even with POSTGRES_PASSWORD set" >&2
  fi
  # An unreadable initdb.d would fail after initdb, leaving a half-initialised cluster: fail now.
  ls "$INITDB_DIR" >/dev/null

  run_initdb

  # Clients over TCP from any address: the method password_encryption implies
  # (scram-sha-256) unless POSTGRES_HOST_AUTH_METHOD names one.
  local method="$POSTGRES_HOST_AUTH_METHOD"
  [[ -n "$method" ]] || method="$("$PGBIN/postgres" -C password_encryption "${server_args[@]}")"
  printf '\n# added by %s\nhost all all all %s\n' "$self" "$method" >>"$PGDATA/pg_hba.conf"

  # Temporary server on the socket only, so nothing can connect before initialisation is done.
  # (PGPASSWORD: for initdb args that make local connections ask for the password too.)
  export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
  local temp_opts
  temp_opts="$(printf '%q ' "${server_args[@]}" -c listen_addresses= -p "${PGPORT:-5432}")"
  NOTIFY_SOCKET='' PGUSER="$POSTGRES_USER" "$PGBIN/pg_ctl" -D "$PGDATA" -o "$temp_opts" -w start

  local exists
  exists="$(superuser_psql --dbname postgres --tuples-only --no-align --set db="$POSTGRES_DB" \
    <<<"SELECT 1 FROM pg_database WHERE datname = :'db'")"
  if [[ "$exists" != 1 ]]; then
    superuser_psql --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db"'
  fi

  local f
  for f in "$INITDB_DIR"/*; do
    [[ -e "$f" ]] || continue
    case "$f" in
      *.sh)
        if [[ -x "$f" ]]; then
          say "running $f"; "$f"
        else
          # Sourced scripts were written for a shell without `set -u`.
          say "sourcing $f"
          set +u
          # shellcheck source=/dev/null
          . "$f"
          set -u
        fi ;;
      *.sql) say "running $f"; docker_process_sql -f "$f" ;;
      *.sql.gz) say "running $f"; gzip -dc "$f" | docker_process_sql ;;
      *.sql.xz) say "running $f"; xz -dc "$f" | docker_process_sql ;;
      *.sql.zst) say "running $f"; zstd -dcq "$f" | docker_process_sql ;;
      *) say "ignoring $f" ;;
    esac
  done

  PGUSER="$POSTGRES_USER" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop
  unset PGPASSWORD
  say "initialisation of $PGDATA complete"
}

main() {
  local helper=''
  case "$self" in docker-ensure-initdb.sh | docker-enforce-initdb.sh) helper="$self" ;; esac
  # Bare server options mean the server (and the helpers take only server options).
  if [[ "${1-}" == -* ]] || { [[ -n "$helper" ]] && [[ "${1-}" != postgres ]]; }; then
    set -- postgres "$@"
  fi
  if [[ "${1-}" != postgres ]] || only_prints "$@"; then
    exec "$@"
  fi

  from_env_or_file POSTGRES_PASSWORD
  from_env_or_file POSTGRES_USER postgres
  from_env_or_file POSTGRES_DB "$POSTGRES_USER"
  from_env_or_file POSTGRES_INITDB_ARGS
  export POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD-}"

  # PGDATA may be a subdirectory of a mounted volume; postgres wants it 0700 and owned by the
  # UID it runs as. Failing chmods are left to postgres to report (e.g. PGDATA is the root of a
  # volume the UID does not own).
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA" 2>/dev/null || true
  mkdir -p "$SOCKET_DIR" 2>/dev/null || true
  chmod 3775 "$SOCKET_DIR" 2>/dev/null || true
  [[ -z "${POSTGRES_INITDB_WALDIR-}" ]] || { mkdir -p "$POSTGRES_INITDB_WALDIR"; chmod 0700 "$POSTGRES_INITDB_WALDIR"; }

  if [[ "$(id -u)" == 0 ]]; then
    # Started as root (plain `docker run`): give postgres what it will write, then run this
    # script again as postgres (with its groups, e.g. ssl-cert).
    local dir
    for dir in "$PGDATA" "$SOCKET_DIR" ${POSTGRES_INITDB_WALDIR:+"$POSTGRES_INITDB_WALDIR"}; do
      find "$dir" ! -user postgres -exec chown postgres:postgres {} +
    done
    exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" "$@"
  fi

  if [[ -s "$PGDATA/PG_VERSION" ]]; then
    case "$helper" in
      docker-ensure-initdb.sh) say "the database in $PGDATA is already initialised"; exit 0 ;;
      docker-enforce-initdb.sh) die "a database already exists in $PGDATA" ;;
    esac
    say "$PGDATA already holds a database: initialisation skipped"
  else
    init_database "$@"
    [[ -z "$helper" ]] || exit 0
  fi
  exec "$@"
}

main "$@"
