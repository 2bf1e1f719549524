#!/usr/bin/env bash
# Installs Fieldgate on Raspberry Pi OS (Bookworm) or another systemd Debian: the executable and its
# native/ addons, the `fieldgate` user, /etc/fieldgate/fieldgate.toml and the systemd service.
# Idempotent: run it again to upgrade; an existing config and secrets are never overwritten.
#
#   sudo ./install.sh [--from DIR] [--config FILE] [--no-start] [--dry-run]
#
# DIR holds `fieldgate` and `native/` (dist/linux-<target>/ from `npm run build:exe`); by default
# the directory that matches this machine's architecture is looked up beside this script.
set -euo pipefail

PREFIX=/usr/local
BIN="$PREFIX/bin/fieldgate"
LIBDIR="$PREFIX/lib/fieldgate"
ETC=/etc/fieldgate
STATE=/var/lib/fieldgate
UNIT=/etc/systemd/system/fieldgate.service
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FROM=""
CONFIG=""
START=1
DRY=0

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }
run() { if [ "$DRY" = 1 ]; then echo "+ $*"; else "$@"; fi; }

while [ $# -gt 0 ]; do
  case "$1" in
    --from) FROM="${2:?--from needs a directory}"; shift 2 ;;
    --config) CONFIG="${2:?--config needs a file}"; shift 2 ;;
    --no-start) START=0; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done

[ "$DRY" = 1 ] || [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 $*)"

case "$(uname -m)" in
  x86_64|amd64) TARGET=x64 ;;
  aarch64|arm64) TARGET=arm64 ;;
  armv7l|armv8l) TARGET=armv7 ;;
  armv6l) die "armv6 (Raspberry Pi 1 / Zero 1) is not supported: use a Pi Zero 2, 3, 4 or 5" ;;
  *) die "unsupported architecture $(uname -m); builds exist for x86_64, aarch64 and armv7l" ;;
esac
# A 64-bit kernel with a 32-bit userland reports aarch64: trust the userland's word size.
if [ "$TARGET" = arm64 ] && [ "$(getconf LONG_BIT)" = 32 ]; then TARGET=armv7; fi

if [ -z "$FROM" ]; then
  for d in "$HERE/linux-$TARGET" "$HERE/../dist/linux-$TARGET" "$HERE/dist/linux-$TARGET"; do
    if [ -x "$d/fieldgate" ]; then FROM="$d"; break; fi
  done
fi
[ -n "$FROM" ] || die "no linux-$TARGET build found beside this script; pass --from DIR (it holds fieldgate and native/)"
[ -x "$FROM/fieldgate" ] || die "$FROM/fieldgate is missing or not executable"
[ -d "$FROM/native" ] || die "$FROM/native/ is missing (the native addons travel with the executable)"
command -v systemctl >/dev/null || die "systemd is required"

if [ "$TARGET" = armv7 ] && command -v ldd >/dev/null; then
  glibc="$(ldd --version 2>/dev/null | head -n1 | grep -oE '[0-9]+\.[0-9]+$' || true)"
  case "$glibc" in
    2.2[0-9]|2.3[0-3]) die "glibc $glibc is too old for the armv7 LevelDB addon (needs 2.34: Raspberry Pi OS Bookworm)" ;;
  esac
fi

# Check the binary runs here before touching anything.
version="$("$FROM/fieldgate" --version)" || die "$FROM/fieldgate does not run on this machine (wrong architecture?)"
say "installing fieldgate $version ($TARGET) from $FROM"

if ! getent group fieldgate >/dev/null; then run groupadd --system fieldgate; fi
if ! id fieldgate >/dev/null 2>&1; then
  run useradd --system --gid fieldgate --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin --comment "Fieldgate gateway" fieldgate
fi
if getent group dialout >/dev/null; then run usermod -a -G dialout fieldgate; fi

# New files land beside the old ones and are renamed into place, so a running service never sees a half-written binary.
run install -d -m 0755 "$LIBDIR" "$LIBDIR/native"
run install -m 0755 "$FROM/fieldgate" "$LIBDIR/fieldgate.new"
run mv -f "$LIBDIR/fieldgate.new" "$LIBDIR/fieldgate"
for f in "$FROM"/native/*.node; do
  run install -m 0644 "$f" "$LIBDIR/native/$(basename "$f").new"
  run mv -f "$LIBDIR/native/$(basename "$f").new" "$LIBDIR/native/$(basename "$f")"
done
# The executable finds native/ beside its real path; the symlink keeps it on PATH.
run ln -sfn "$LIBDIR/fieldgate" "$BIN"

run install -d -m 0750 -o root -g fieldgate "$ETC"
if [ ! -e "$ETC/fieldgate.toml" ]; then
  src="${CONFIG:-$HERE/fieldgate.example.toml}"
  [ -f "$src" ] || die "no config to install: $src is missing; pass --config FILE"
  run install -m 0640 -o root -g fieldgate "$src" "$ETC/fieldgate.toml"
  say "installed $ETC/fieldgate.toml from $src: edit it, then: sudo systemctl restart fieldgate"
else
  say "keeping the existing $ETC/fieldgate.toml"
fi
# The status page token referenced by the example config: random, created once, readable by the service only.
TOKEN="$ETC/status.token"
if [ ! -e "$TOKEN" ]; then
  if [ "$DRY" = 1 ]; then echo "+ create $TOKEN"; else
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$TOKEN")
    chown root:fieldgate "$TOKEN"; chmod 0640 "$TOKEN"
    say "created $TOKEN (the status page token: open http://<this device>:8080/#token=<its content>)"
  fi
fi
if [ ! -e "$ETC/passwd" ]; then
  say "no $ETC/passwd yet: add MQTT users with: sudo fieldgate passwd $ETC/passwd USER && sudo chgrp fieldgate $ETC/passwd"
fi

run install -d -m 0750 -o fieldgate -g fieldgate "$STATE"
run install -m 0644 "$HERE/systemd/fieldgate.service" "$UNIT"
run systemctl daemon-reload
run systemctl enable fieldgate.service

# check binds the listeners' ports: stop a running (older) gateway first, and check as the service user
# so unreadable secret files show up now rather than at start.
if [ "$DRY" = 0 ] && systemctl is-active --quiet fieldgate.service; then run systemctl stop fieldgate.service; fi
if [ "$DRY" = 0 ] && ! (cd "$STATE" && runuser -u fieldgate -- env FIELDGATE_STORAGE__DATA_DIR="$STATE" "$BIN" check --config "$ETC/fieldgate.toml"); then
  say "the config check above failed: fix $ETC/fieldgate.toml, then: sudo systemctl restart fieldgate"
  START=0
fi
if [ "$START" = 1 ]; then
  run systemctl restart fieldgate.service
  say "started; status: systemctl status fieldgate, logs: journalctl -u fieldgate -f"
fi
