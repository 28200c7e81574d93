#!/usr/bin/env bash
# Installs the Debian packages the test suite needs: chromium (browser tests, static image export), the PostgreSQL
# server (tests/test_engines.py starts a private one) and a headless Java runtime for PySpark (Java 17+).
# Idempotent: does nothing when they are present.
set -euo pipefail
need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
[[ -x /usr/bin/chromedriver ]] || need+=(chromium-driver)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v java >/dev/null || need+=(default-jre-headless)
((${#need[@]})) || exit 0
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "install-system-deps: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1
  fi
fi
echo "install-system-deps: apt-get install ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
