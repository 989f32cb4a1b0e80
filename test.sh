#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL and Redis that the test fixture starts
# itself: Testcontainers where a Docker engine answers, otherwise private local servers on free
# loopback ports (scripts/test-services.sh); both are stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/services.sh
ensure_packages
# The dashboard's browser tests drive Debian's Chromium (Playwright cannot download its own here).
if ! command -v chromium >/dev/null 2>&1; then
  log "installing Chromium from Debian (the dashboard's browser tests)"
  apt_install chromium
fi
status=0
# One test assembly at a time: the catalog's and the production's suites each start their own
# servers, and together on two cores they made timing-bound cases (the cache's single flight) flaky.
dotnet test Catalog.sln -c Release --nologo -m:1 "$@" || status=$?
# Which path the fixture took for PostgreSQL and Redis (given servers, Testcontainers, local servers).
cat TestResults/services.txt 2>/dev/null || true
exit $status
