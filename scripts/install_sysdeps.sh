#!/usr/bin/env bash
# Install the Debian packages the test suite uses, when missing and possible.
# espeak-ng: speech synthesis for the voice-command tests and benchmark.
set -u
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "warning: cannot install ${need[*]} (not root, no sudo); tests that need them will skip" >&2; exit 0; fi
fi
if command -v apt-get >/dev/null 2>&1; then
  echo "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1; } \
    || echo "warning: apt-get could not install ${need[*]}; tests that need them will skip" >&2
else
  echo "warning: no apt-get; install ${need[*]} yourself; tests that need them will skip" >&2
fi
exit 0
