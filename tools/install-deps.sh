#!/usr/bin/env bash
# Installs what griffin builds and tests with, from Debian 12's archive.
#   --reference  also python3-torch, for the tests against the PyTorch reference
#                (reference/griffin_ref.py); without it those tests report skipped.
set -euo pipefail
# sentencepiece (spm_train/spm_encode/spm_decode) and python3: the tokenizer
# tests train their reference models and compare against the spm tools;
# gnuplot draws the loss curves of training runs (tools/plot_loss.sh).
# g++ (also in build-essential): tests/test_cpp.cpp compiles the public headers as C++;
# pkg-config: the Makefile and tests/check_install.sh.
# clang (with clang++ and LLVM's OpenMP runtime, libomp-dev): `make test-clang`
# builds and tests with it as well as with GCC.
# libopenblas-openmp-dev: OpenBLAS built on OpenMP, which the Makefile links
# (one thread team for griffin's loops and the matrix products).
# libmicrohttpd-dev: griffin serve's HTTP server; curl, nodejs and npm: its test
# (tests/test_serve.sh drives it with curl and with the official OpenAI Node
# client, which `npm ci` installs from tests/node/package-lock.json). Node and
# npm are left alone where both commands exist already (e.g. a NodeSource
# build, which provides npm itself).
# libedit-dev: griffin chat's line editing and history at a terminal.
# openmpi-bin, libopenmpi-dev: data-parallel training (mpirun -np N griffin train).
pkgs=(build-essential g++ clang libomp-dev pkg-config libopenblas-dev libopenblas-openmp-dev libcjson-dev libcmocka-dev sentencepiece python3 gnuplot-nox
      libmicrohttpd-dev libedit-dev curl openmpi-bin libopenmpi-dev)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then pkgs+=(nodejs npm); fi
for arg in "$@"; do
  case "$arg" in
    --reference) pkgs+=(python3-torch python3-numpy) ;;
    *) echo "usage: $0 [--reference]" >&2; exit 1 ;;
  esac
done
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
# The official OpenAI client the server test drives griffin serve with, at the
# version tests/node/package-lock.json pins (npm ci: exactly the lock).
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ -f "$here/tests/node/package-lock.json" ] && \
   ! node -e "process.exit(require('$here/tests/node/node_modules/openai/package.json').version === require('$here/tests/node/package-lock.json').packages['node_modules/openai'].version ? 0 : 1)" 2>/dev/null; then
  (cd "$here/tests/node" && npm ci --no-audit --no-fund --loglevel=error) || { echo "griffin: npm ci in tests/node failed (the npm registry is needed once)" >&2; exit 1; }
fi
echo "griffin: the OpenAI Node client is in tests/node/node_modules"
