#!/usr/bin/env bash
# Installs what griffin builds and tests with, from Debian 12's archive.
set -euo pipefail
pkgs=(build-essential pkg-config libopenblas-dev libcjson-dev libcmocka-dev)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
echo "griffin: dependencies present: ${pkgs[*]}"
