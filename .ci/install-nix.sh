#!/usr/bin/env bash
# Installs Debian's Nix (nix-instantiate) for tests/test_nix.py and tests/test_plan.py, which
# evaluate nix/ and skip without it. Call from .ci/run before pytest. Idempotent.
set -euo pipefail
if command -v nix-instantiate >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq nix-bin >/dev/null
nix-instantiate --version
