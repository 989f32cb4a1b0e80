#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL and Redis that the test fixture starts
# on free loopback ports (scripts/test-services.sh) and stops afterwards.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/services.sh
ensure_packages
dotnet test Catalog.sln -c Release --nologo "$@"
