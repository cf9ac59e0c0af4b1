#!/usr/bin/env bash
# Debian minbase root filesystem -> $CONTEXT_DIR/rootfs.tar (the machinery `docker import`s it:
# this recipe has no Dockerfile). Needs root (debootstrap chroots and creates device nodes).
set -euo pipefail
if [[ "$(id -u)" != 0 ]]; then
  echo "base: debootstrap needs root; run as root (e.g. sudo npm run images:build)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
rootfs="$CONTEXT_DIR/rootfs"
rm -rf "$rootfs"
debootstrap --variant="$INPUT_VARIANT" --include="$INPUT_INCLUDE" \
  "$INPUT_SUITE" "$rootfs" "$INPUT_MIRROR"

# apt sources: release, updates, security (all reachable through the Debian mirrors).
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $INPUT_MIRROR $INPUT_SUITE main
deb $INPUT_MIRROR $INPUT_SUITE-updates main
deb $INPUT_SECURITY_MIRROR $INPUT_SUITE-security main
SOURCES
# Container habits of the official Debian images: no services started by package scripts,
# no kept .debs, no apt lists in the image.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
echo 'APT::Install-Recommends "false";' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
  "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/root/.bash_history
: >"$rootfs/etc/machine-id"
echo "localhost" >"$rootfs/etc/hostname"
# resolv.conf/hosts are bind-mounted by the engine at run time.
rm -f "$rootfs/etc/resolv.conf"

tar --numeric-owner --xattrs -C "$rootfs" -cf "$CONTEXT_DIR/rootfs.tar" .
rm -rf "$rootfs"
du -h "$CONTEXT_DIR/rootfs.tar" | cut -f1 | sed 's/^/base: rootfs.tar /'
