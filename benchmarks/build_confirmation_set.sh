#!/usr/bin/env bash
# Writes the confirmation set (issue #14) from Debian's plasma-workspace-wallpapers photographs.
# Usage: benchmarks/build_confirmation_set.sh [OUT_DIR] [more `python -m services.cli confirmation` options]
#   OUT_DIR defaults to data/confirmation; e.g. `... data/confirmation --contact-sheet confirmation_sheet.png`, or
#   `... data/development --set development` for the development photo set (other photographs, same cuts).
# Installs nothing: when /usr/share/wallpapers lacks the chosen photos, the package is fetched by name with
# `apt-get download` into a cache folder and unpacked there with `dpkg -x` (ANOMALYLENS_CACHE, default
# ~/.cache/anomalylens). PYTHON picks the interpreter (default: .venv/bin/python when present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-data/confirmation}"
shift || true
PY="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"
PACKAGE=plasma-workspace-wallpapers
CACHE="${ANOMALYLENS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/anomalylens}"
WANTED=$("$PY" -c 'from services.data.confirmation import PHOTO_SETS; print(*(p.wallpaper for s in PHOTO_SETS.values() for p in s))')
EXPECTED=$("$PY" -c 'from services.data.confirmation import PACKAGE_VERSION; print(PACKAGE_VERSION)')

has_photos() {
  for name in $WANTED; do
    [ -d "$1/$name/contents/images" ] || return 1
  done
}

PHOTOS=/usr/share/wallpapers
if ! has_photos "$PHOTOS"; then
  PHOTOS="$CACHE/$PACKAGE/usr/share/wallpapers"
  if ! has_photos "$PHOTOS"; then
    mkdir -p "$CACHE/debs"
    if ! ls "$CACHE/debs/${PACKAGE}"_*.deb >/dev/null 2>&1; then
      echo "fetching Debian's $PACKAGE into $CACHE/debs (not installed)"
      (cd "$CACHE/debs" && apt-get download "$PACKAGE") || {
        echo "apt-get download $PACKAGE failed: run 'apt-get update' (or install the package) and retry" >&2
        exit 1
      }
    fi
    DEB=$(ls "$CACHE/debs/${PACKAGE}"_*.deb | sort | tail -n 1)
    rm -rf "$CACHE/$PACKAGE" && dpkg -x "$DEB" "$CACHE/$PACKAGE"
    VERSION=$(dpkg-deb -f "$DEB" Version)
    if [ "$VERSION" != "$EXPECTED" ]; then
      echo "note: $PACKAGE $VERSION, photos were chosen from $EXPECTED (each photo's sha256 is recorded)" >&2
    fi
  fi
fi
echo "photos from $PHOTOS"
"$PY" -m services.cli confirmation --photos "$PHOTOS" --out "$OUT" "$@"
