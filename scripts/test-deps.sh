#!/usr/bin/env bash
# Makes sure the Debian packages the tests need (.ci/debian-packages) are installed, before `npm test`.
# As root it installs the missing ones with apt-get; otherwise it prints the exact command and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t PACKAGES < <(grep -vE '^\s*(#|$)' .ci/debian-packages)

if ! command -v dpkg-query >/dev/null; then
  echo "test-deps: the tests need a Debian-based system with: ${PACKAGES[*]}" >&2
  exit 1
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

install=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -ne 0 ]; then
  echo "test-deps: the tests need Debian packages that are not installed: ${missing[*]}" >&2
  echo "test-deps: install them, then run the tests again:" >&2
  echo "  sudo apt-get update && sudo ${install[*]}" >&2
  exit 1
fi
echo "test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
"${install[@]}"
