#!/usr/bin/env bash
# Installs Debian's headless Chromium for the browser journey when it is missing (`make test` calls this).
# Without root or without a reachable Debian mirror it says so and leaves the journey to be skipped (pytest reports
# the skip and its reason), rather than failing the rest of the suite.
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing: run 'sudo apt-get install -y chromium' (the browser journey is skipped without it)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }; then
  echo "installing chromium with apt-get failed (the browser journey is skipped without it)" >&2
fi
exit 0
