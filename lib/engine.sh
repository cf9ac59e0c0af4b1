#!/usr/bin/env bash
# Make a Docker Engine reachable (idempotent). Used by .ci/run and the dev scripts' preflight.
#
#   - `docker info` answers            -> report and change nothing.
#   - root, no engine                  -> apt-get install docker.io if needed; if the capability
#                                         bounding set lacks a capability `--privileged` asks for,
#                                         install lib/runc-caps-wrapper as dockerd's default
#                                         runtime; start dockerd (log: /var/log/dockerd.log); wait.
#   - not root, no engine              -> fail with what to do.
#
# Env: DOCKERD_WAIT_SECONDS (default 60), DOCKERD_LOG (default /var/log/dockerd.log).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WRAPPER_SRC="$HERE/runc-caps-wrapper"
WRAPPER_DST=/usr/local/libexec/chatstack/runc-caps-wrapper
RUNTIME_NAME=runc-caps
DAEMON_JSON=/etc/docker/daemon.json
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"

say() { printf 'engine: %s\n' "$*"; }
die() { printf 'engine: ERROR: %s\n' "$*" >&2; exit 1; }

# Names of capabilities that `--privileged` asks for (every cap up to cap_last_cap) but the
# bounding set of this process lacks. Empty on a normal host.
missing_caps() {
  local names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
    LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE
    SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
    SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
    WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)
  local bnd last b out=()
  bnd=$((16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
  last=$(cat /proc/sys/kernel/cap_last_cap 2>/dev/null || echo 40)
  for ((b = 0; b <= last; b++)); do
    if (((bnd >> b & 1) == 0)); then out+=("CAP_${names[b]:-$b}"); fi
  done
  echo "${out[*]:-}"
}

engine_ok() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_ok; then
  say "Docker Engine reachable: $(docker info --format '{{.ServerVersion}} (runtime {{.DefaultRuntime}}, cgroup v{{.CgroupVersion}}, storage {{.Driver}})' 2>/dev/null); nothing to do"
  missing="$(missing_caps)"
  if [[ -n "$missing" && "$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" != "$RUNTIME_NAME" ]]; then
    say "WARNING: bounding set lacks $missing and the engine's default runtime is not $RUNTIME_NAME:"
    say "         privileged containers (k3s) will fail. Stop that dockerd and rerun this script as root."
  fi
  exit 0
fi

if [[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != unix:///var/run/docker.sock && "${DOCKER_HOST}" != unix:///run/docker.sock ]]; then
  err="$( (docker info 2>&1 >/dev/null || true) | tail -n 2)"
  die "DOCKER_HOST=$DOCKER_HOST is set but no engine answers there${err:+ ($err)}.
  Start that engine, or unset DOCKER_HOST to use (and, as root, start) the local one."
fi

if [[ "$(id -u)" != 0 ]]; then
  err="$( (docker info 2>&1 >/dev/null || true) | tail -n 2)"
  die "no Docker Engine reachable${err:+ (docker info: $err)}.
  Start one yourself (e.g. 'sudo systemctl start docker'), make sure your user may use its socket
  (e.g. 'sudo usermod -aG docker \$USER', then log in again) or set DOCKER_HOST, or run
  'sudo bash lib/engine.sh' to install and start Docker here."
fi

# --- root, no engine -----------------------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  say "dockerd not found: installing docker.io from apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  say "installed $(dockerd --version)"
fi

config_changed=false
missing="$(missing_caps)"
if [[ -n "$missing" ]]; then
  say "bounding set lacks $missing, which --privileged asks for: using runtime $RUNTIME_NAME"
  if [[ ! -x /usr/bin/python3 ]]; then
    say "installing python3-minimal (the wrapper's interpreter)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-minimal >/dev/null
  fi
  if ! cmp -s "$WRAPPER_SRC" "$WRAPPER_DST"; then
    install -D -m 0755 "$WRAPPER_SRC" "$WRAPPER_DST"
    say "installed $WRAPPER_DST"
  fi
  # Merge into an existing daemon.json: keep every other key and runtime.
  mkdir -p "$(dirname "$DAEMON_JSON")"
  rc=0
  (/usr/bin/python3 - "$DAEMON_JSON" "$RUNTIME_NAME" "$WRAPPER_DST" <<'PY'
import json, os, sys
path, name, wrapper = sys.argv[1:]
cfg = {}
if os.path.exists(path) and open(path).read().strip():
    cfg = json.load(open(path))  # invalid JSON fails loudly instead of being overwritten
want = dict(cfg)
want["runtimes"] = dict(cfg.get("runtimes", {}))
want["runtimes"][name] = {"path": wrapper}
want["default-runtime"] = name
if want != cfg:
    if os.path.exists(path):
        os.replace(path, path + ".bak")
    with open(path, "w") as f:
        json.dump(want, f, indent=2)
        f.write("\n")
    print("engine: wrote %s (default-runtime %s)" % (path, name))
    sys.exit(10)
PY
  ) || rc=$?
  case "${rc:-0}" in
    0) ;;
    10) config_changed=true ;;
    *) die "could not update $DAEMON_JSON (is it valid JSON?)" ;;
  esac
else
  say "capability bounding set is complete: plain runc, daemon.json untouched"
fi

log_hint="$DOCKERD_LOG"
if [[ -d /run/systemd/system ]] && systemctl cat docker.service >/dev/null 2>&1; then
  # systemd host (e.g. a fresh CI VM, where installing docker.io already started it).
  log_hint="journalctl -u docker"
  if $config_changed && systemctl is-active --quiet docker; then
    say "restarting docker.service to apply $DAEMON_JSON"
    systemctl restart docker
  else
    say "starting docker.service"
    systemctl start docker
  fi
elif pgrep -x dockerd >/dev/null 2>&1; then
  if $config_changed && [[ -s /var/run/docker.pid ]]; then
    # runtimes and default-runtime are reloadable: no restart (and no container downtime).
    say "dockerd (pid $(cat /var/run/docker.pid)) is running: SIGHUP to reload $DAEMON_JSON"
    kill -HUP "$(cat /var/run/docker.pid)"
  fi
  say "a dockerd process already exists; waiting for it to answer"
else
  say "starting dockerd (log: $DOCKERD_LOG)"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  # setsid: detach from this shell's session/process group so dockerd outlives the caller.
  setsid -f dockerd </dev/null >>"$DOCKERD_LOG" 2>&1
fi

start=$SECONDS
until engine_ok; do
  if ((SECONDS - start >= WAIT_SECONDS)); then
    printf 'engine: ERROR: dockerd did not answer `docker info` within %ss (see %s). Last lines of %s:\n' \
      "$WAIT_SECONDS" "$log_hint" "$DOCKERD_LOG" >&2
    tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
    exit 1
  fi
  if [[ "$log_hint" == "$DOCKERD_LOG" ]] && ! pgrep -x dockerd >/dev/null 2>&1; then
    printf 'engine: ERROR: dockerd exited. Last lines of %s:\n' "$DOCKERD_LOG" >&2
    tail -n 30 "$DOCKERD_LOG" >&2 || true
    exit 1
  fi
  sleep 1
done
say "Docker Engine up after $((SECONDS - start))s: $(docker info --format '{{.ServerVersion}} (runtime {{.DefaultRuntime}}, cgroup v{{.CgroupVersion}}, storage {{.Driver}})')"
