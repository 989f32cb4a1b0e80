#!/usr/bin/env bash
# Runs the catalog on http://127.0.0.1:5080 (CATALOG_URLS to change; a second checkout picks a
# free port), with a local PostgreSQL and Redis for this data folder (.data/, CATALOG_DATA to
# change) unless ConnectionStrings__Catalog / ConnectionStrings__Redis point elsewhere. Installs
# what is missing, migrates, then serves in the foreground. Ctrl-C stops the server and the
# services it started (CATALOG_KEEP_SERVICES=1 keeps PostgreSQL and Redis running).
#
#   ./run.sh        start everything, print the URLs
#   ./run.sh stop   stop everything this data folder started and release its huge pages
set -euo pipefail
cd "$(dirname "$0")"
source scripts/services.sh

DATA=${CATALOG_DATA:-$PWD/.data}
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
export HUGE_PAGES_RECORD="$DATA/hugepages"

stop_all() {
  PG_BIN=$(find_pg_bin) || true
  if [ -f "$DATA/server.pid" ]; then
    local pid; pid=$(cat "$DATA/server.pid")
    kill "$pid" 2>/dev/null && { for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; log "catalog server stopped"; } || true
    rm -f "$DATA/server.pid"
  fi
  if [ -n "${PG_BIN:-}" ] && [ -f "$(pg_dir_for "$DATA")/PG_VERSION" ]; then
    stop_postgres "$(pg_dir_for "$DATA")" && log "PostgreSQL stopped"
  fi
  if [ -f "$DATA/redis/redis.pid" ]; then stop_redis "$DATA/redis" && log "Redis stopped"; fi
  release_huge_pages "$HUGE_PAGES_RECORD"
}

if [ "${1:-}" = stop ]; then
  stop_all
  exit 0
fi

ensure_packages

# Ports are chosen once and remembered, so the data folder keeps working across runs.
if [ ! -f "$DATA/ports" ]; then
  pg=55432; port_open $pg && pg=$(free_port)
  rd=56379; port_open $rd && rd=$(free_port)
  api=5080; port_open $api && api=$(free_port)
  printf 'PG_PORT=%s\nREDIS_PORT=%s\nAPI_PORT=%s\n' "$pg" "$rd" "$api" > "$DATA/ports"
fi
source "$DATA/ports"
URLS=${CATALOG_URLS:-http://127.0.0.1:${API_PORT:-5080}}
# ./catalog in this checkout talks to this URL.
echo "${URLS%%;*}" > "$DATA/url"

started_services=
if [ -z "${ConnectionStrings__Catalog:-}" ]; then
  start_postgres "$(pg_dir_for "$DATA")" "$PG_PORT" "${CATALOG_PG_SHARED_BUFFERS_MB:-$(catalog_shared_buffers_mb)}"
  export ConnectionStrings__Catalog="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=catalog"
  started_services=1
fi
if [ -z "${ConnectionStrings__Redis:-}" ]; then
  start_redis "$DATA/redis" "$REDIS_PORT"
  export ConnectionStrings__Redis="127.0.0.1:$REDIS_PORT"
  started_services=1
fi

# The signing key set lives in the data folder (owner-only), not beside the binaries.
mkdir -p "$DATA/auth" && chmod 700 "$DATA/auth"
export Catalog__Auth__KeyFile="${Catalog__Auth__KeyFile:-$DATA/auth/jwks.json}"

log "building the catalog"
dotnet build -c Release -nologo -v q Catalog.Api/Catalog.Api.csproj -o "$DATA/bin" >/dev/null
dotnet "$DATA/bin/Catalog.Api.dll" migrate --contentRoot "$DATA/bin"

# An admin token, readable by this user only, made afresh at every start (a token from before
# tokens were issued in low-S form only may be refused; an older one stays valid until it expires).
TOKEN_FILE="$DATA/auth/admin.token"
(umask 077 && dotnet "$DATA/bin/Catalog.Api.dll" token issue --subject admin --role admin \
    --scope storage.read:/ --scope storage.modify:/ --lifetime 365d --contentRoot "$DATA/bin" > "$TOKEN_FILE.tmp" \
  && mv "$TOKEN_FILE.tmp" "$TOKEN_FILE")
log "wrote a fresh admin token (valid 365 days) to $TOKEN_FILE"
log "admin token: export CATALOG_TOKEN=\$(cat $TOKEN_FILE)   (./catalog in this checkout uses it and ${URLS%%;*} by itself)"
log "catalog serving on ${URLS%%;*}: REST under /api/v1, GraphQL at /graphql, API docs at /scalar/v1"
log "stop with Ctrl-C, or ./run.sh stop from another terminal"
# Tier-up without the runtime's call-counting delay: it restarts while new methods keep being
# compiled, so under a storm the request path stayed in unoptimized tier-0 code for minutes (storm
# A/B: 7,154 and 6,606/s with 0 against 4,954 and 4,744/s without; docs/DESIGN.md). An environment
# variable because the runtime reads this knob from nowhere else.
export DOTNET_TC_CallCountingDelayMs="${DOTNET_TC_CallCountingDelayMs:-0}"
dotnet "$DATA/bin/Catalog.Api.dll" --urls "$URLS" --contentRoot "$DATA/bin" &
echo $! > "$DATA/server.pid"
on_exit() {
  trap - INT TERM EXIT
  if [ -n "$started_services" ] && [ "${CATALOG_KEEP_SERVICES:-}" != 1 ]; then stop_all
  else kill "$(cat "$DATA/server.pid" 2>/dev/null)" 2>/dev/null || true; rm -f "$DATA/server.pid"; fi
}
trap on_exit INT TERM EXIT
wait "$(cat "$DATA/server.pid")" || true
