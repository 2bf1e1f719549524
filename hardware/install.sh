#!/usr/bin/env bash
# Installs Fieldgate on Raspberry Pi OS (Bookworm) or another systemd Debian: the executable and its
# native/ addons, the `fieldgate` user, /etc/fieldgate/fieldgate.toml and the systemd service.
# Idempotent: run it again to upgrade; an existing config and secrets are never overwritten.
#
#   sudo ./install.sh [--from DIR] [--config FILE] [--no-start] [--dry-run] [--root DIR]
#
# DIR holds `fieldgate` and `native/` (linux-<target>/ in the release tarball, dist/linux-<target>/
# from `npm run build:exe`); by default the one for this machine's architecture beside this script.
# --root DIR installs under DIR instead of / (users go into DIR/etc/passwd; systemd is not touched and
# nothing is checked or started): for packaging, and for the end-to-end test.
# An upgrade checks the new version against the config before it stops the running one: when the
# check fails, nothing is replaced and the running gateway keeps running.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FROM=""
CONFIG=""
START=1
DRY=0
ROOT=""

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }
run() { if [ "$DRY" = 1 ]; then echo "+ $*"; else "$@"; fi; }

while [ $# -gt 0 ]; do
  case "$1" in
    --from) FROM="${2:?--from needs a directory}"; shift 2 ;;
    --config) CONFIG="${2:?--config needs a file}"; shift 2 ;;
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --no-start) START=0; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) die "unknown option $1 (try --help)" ;;
    *) [ -z "$FROM" ] || die "one build directory only (got $FROM and $1)"; FROM="$1"; shift ;;
  esac
done

if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT" || die "cannot create --root $ROOT"
  ROOT="$(cd "$ROOT" && pwd)"
  START=0
fi
PREFIX="$ROOT/usr/local"
BIN="$PREFIX/bin/fieldgate"
LIBDIR="$PREFIX/lib/fieldgate"
SHARE="$PREFIX/share/fieldgate"
ETC="$ROOT/etc/fieldgate"
STATE="$ROOT/var/lib/fieldgate"
UNIT="$ROOT/etc/systemd/system/fieldgate.service"

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
[ -n "$ROOT" ] || command -v systemctl >/dev/null || die "systemd is required"
# Device templates: the executable has them built in; a copy is installed for reference and editing.
TEMPLATES=""
for d in "$HERE/devices" "$HERE/../hardware/devices"; do
  if [ -d "$d" ]; then TEMPLATES="$d"; break; fi
done

if [ "$TARGET" = armv7 ] && command -v ldd >/dev/null; then
  glibc="$(ldd --version 2>/dev/null | head -n1 | grep -oE '[0-9]+\.[0-9]+$' || true)"
  case "$glibc" in
    2.2[0-9]|2.3[0-3]) die "glibc $glibc is too old for the armv7 LevelDB addon (needs 2.34: Raspberry Pi OS Bookworm)" ;;
  esac
fi

# Check the binary runs here before touching anything.
version="$("$FROM/fieldgate" --version)" || die "$FROM/fieldgate does not run on this machine (wrong architecture?)"
say "installing fieldgate $version ($TARGET) from $FROM${ROOT:+ under $ROOT}"

# Users: on this machine, or in ROOT/etc with --root (useradd --prefix does not chroot).
ACCT=()
if [ -n "$ROOT" ]; then
  run mkdir -p "$ROOT/etc"
  for f in passwd group shadow gshadow; do [ -e "$ROOT/etc/$f" ] || run touch "$ROOT/etc/$f"; done
  ACCT=(--prefix "$ROOT")
fi
has_group() { if [ -n "$ROOT" ]; then grep -q "^$1:" "$ROOT/etc/group"; else getent group "$1" >/dev/null; fi; }
has_user() { if [ -n "$ROOT" ]; then grep -q "^$1:" "$ROOT/etc/passwd"; else id "$1" >/dev/null 2>&1; fi; }
if ! has_group fieldgate; then run groupadd "${ACCT[@]}" --system fieldgate; fi
if ! has_user fieldgate; then
  run useradd "${ACCT[@]}" --system --gid fieldgate --home-dir /var/lib/fieldgate --no-create-home --shell /usr/sbin/nologin --comment "Fieldgate gateway" fieldgate
fi
if [ -z "$ROOT" ] && getent group dialout >/dev/null; then run usermod -a -G dialout fieldgate; fi
# Numeric ids: with --root the names exist only in ROOT/etc.
if [ "$DRY" = 1 ] && ! has_user fieldgate; then FG_UID=fieldgate; FG_GID=fieldgate
elif [ -n "$ROOT" ]; then
  FG_UID="$(awk -F: '$1 == "fieldgate" { print $3 }' "$ROOT/etc/passwd")"
  FG_GID="$(awk -F: '$1 == "fieldgate" { print $3 }' "$ROOT/etc/group")"
else FG_UID="$(id -u fieldgate)"; FG_GID="$(getent group fieldgate | cut -d: -f3)"; fi

run install -d -m 0750 -o 0 -g "$FG_GID" "$ETC" "$ETC/devices"
if [ ! -e "$ETC/fieldgate.toml" ]; then
  src="${CONFIG:-$HERE/fieldgate.example.toml}"
  [ -f "$src" ] || die "no config to install: $src is missing; pass --config FILE"
  run install -m 0640 -o 0 -g "$FG_GID" "$src" "$ETC/fieldgate.toml"
  say "installed $ETC/fieldgate.toml from $src: edit it, then: sudo systemctl restart fieldgate"
else
  say "keeping the existing $ETC/fieldgate.toml"
fi
# The status page token referenced by the example config: random, created once, readable by the service only.
TOKEN="$ETC/status.token"
if [ ! -e "$TOKEN" ]; then
  if [ "$DRY" = 1 ]; then echo "+ create $TOKEN"; else
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$TOKEN")
    chown "0:$FG_GID" "$TOKEN"; chmod 0640 "$TOKEN"
    say "created $TOKEN (the status page token: open http://<this device>:8080/#token=<its content>)"
  fi
fi
# The example config's password file: empty (the LAN listener admits nobody) until users are added.
if [ ! -e "$ETC/passwd" ]; then
  run install -m 0640 -o 0 -g "$FG_GID" /dev/null "$ETC/passwd"
  say "created an empty $ETC/passwd: add MQTT users with: sudo fieldgate passwd /etc/fieldgate/passwd USER"
fi
run install -d -m 0750 -o "$FG_UID" -g "$FG_GID" "$STATE"
if [ -n "$TEMPLATES" ]; then
  run install -d -m 0755 "$SHARE" "$SHARE/devices"
  for f in "$TEMPLATES"/*.toml "$TEMPLATES"/README.md; do [ -e "$f" ] && run install -m 0644 "$f" "$SHARE/devices/"; done
fi

# The new version is staged beside the old one and checked from there before anything is replaced.
STAGE="$LIBDIR/.staged"
run rm -rf "$STAGE"
# The service user may write $LIBDIR (group fieldgate, 0775): over-the-air updates put the new
# executable beside the running one there; the executables themselves stay 0755.
run install -d -m 0775 -o 0 -g "$FG_GID" "$LIBDIR"
run install -d -m 0755 "$STAGE" "$STAGE/native"
run install -m 0755 "$FROM/fieldgate" "$STAGE/fieldgate"
for f in "$FROM"/native/*.node; do run install -m 0644 "$f" "$STAGE/native/"; done

# check binds the listeners' ports; while the old version runs, ports it holds count as free
# (--in-place): it is restarted right after. It runs as the service user so unreadable files show now.
ACTIVE=0
if [ -z "$ROOT" ] && systemctl is-active --quiet fieldgate.service 2>/dev/null; then ACTIVE=1; fi
check_as_service() {
  local in_place=()
  [ "$ACTIVE" = 1 ] && in_place=(--in-place)
  (cd "$STATE" && runuser -u fieldgate -- env FIELDGATE_STORAGE__DATA_DIR=/var/lib/fieldgate FIELDGATE_TEMPLATES_DIR="$ETC/devices" \
    "$1" check --config "$ETC/fieldgate.toml" "${in_place[@]}")
}
if [ -n "$ROOT" ]; then
  CHECKED="not checked (--root: the config refers to paths of the target system)"
elif [ "$DRY" = 1 ]; then
  if has_user fieldgate && [ -e "$ETC/fieldgate.toml" ] && check_as_service "$FROM/fieldgate"; then CHECKED=passed; else CHECKED=failed; fi
elif check_as_service "$STAGE/fieldgate"; then CHECKED=passed
else CHECKED=failed; fi

if [ "$CHECKED" = failed ] && [ "$DRY" = 0 ]; then
  run rm -rf "$STAGE"
  if [ "$ACTIVE" = 1 ]; then die "the config check above failed with the new version: nothing was replaced and the running fieldgate keeps running; fix $ETC/fieldgate.toml and run install.sh again"; fi
  say "the config check above failed: the executable was not installed and nothing was started; fix $ETC/fieldgate.toml and run install.sh again"
  exit 1
fi

# New files land beside the old ones and are renamed into place, so a running service never sees a half-written binary.
run install -d -m 0755 "$LIBDIR/native" "$PREFIX/bin"
for f in "$FROM"/native/*.node; do run mv -f "$STAGE/native/$(basename "$f")" "$LIBDIR/native/$(basename "$f")"; done
run mv -f "$STAGE/fieldgate" "$LIBDIR/fieldgate"
run rm -rf "$STAGE"
# The update guard the unit runs before each start. An install by hand supersedes an over-the-air update
# on trial: its marker would name an executable that is gone.
GUARD_SRC="$HERE/systemd/fieldgate-update-guard"
[ -f "$GUARD_SRC" ] || die "$GUARD_SRC is missing (it travels with the unit)"
run install -m 0755 "$GUARD_SRC" "$LIBDIR/fieldgate-update-guard"
run rm -f "$LIBDIR/fieldgate.update" "$LIBDIR/fieldgate.update-tried"
# The executable finds native/ beside its real path; the symlink keeps it on PATH.
run ln -sfn /usr/local/lib/fieldgate/fieldgate "$BIN"
run install -d -m 0755 "$(dirname "$UNIT")"
run install -m 0644 "$HERE/systemd/fieldgate.service" "$UNIT"

if [ -n "$ROOT" ]; then
  say "installed under $ROOT; $CHECKED; not started"
  exit 0
fi
run systemctl daemon-reload
run systemctl enable fieldgate.service
if [ "$START" = 0 ]; then
  say "config check $CHECKED; not started (--no-start): sudo systemctl start fieldgate"
elif [ "$DRY" = 1 ]; then
  if [ "$CHECKED" = passed ]; then say "dry run: the config check passed; a real run would (re)start fieldgate"
  else say "dry run: the config check did not pass here (or could not run before the user and files exist); a real run starts fieldgate only if it passes"; fi
elif systemctl restart fieldgate.service && systemctl is-active --quiet fieldgate.service; then
  # Type=notify: restart returns once the gateway reported every listener, device and uplink started.
  say "started; status: systemctl status fieldgate, logs: journalctl -u fieldgate -f"
else
  die "fieldgate did not start; see: journalctl -u fieldgate -n 50"
fi
