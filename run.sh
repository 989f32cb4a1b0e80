#!/usr/bin/env bash
# Runs the catalog on http://127.0.0.1:5080 (CATALOG_URLS to change), with a local PostgreSQL
# and Redis under .data/ unless ConnectionStrings__Catalog / ConnectionStrings__Redis point
# elsewhere. Installs what is missing, migrates, then serves in the foreground.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/services.sh
ensure_packages

DATA=${CATALOG_DATA:-$PWD/.data}
URLS=${CATALOG_URLS:-http://127.0.0.1:5080}
mkdir -p "$DATA"

# Ports are chosen once and remembered, so the data folder keeps working across runs.
if [ ! -f "$DATA/ports" ]; then
  pg=55432; port_open $pg && pg=$(free_port)
  rd=56379; port_open $rd && rd=$(free_port)
  printf 'PG_PORT=%s\nREDIS_PORT=%s\n' "$pg" "$rd" > "$DATA/ports"
fi
source "$DATA/ports"

if [ -z "${ConnectionStrings__Catalog:-}" ]; then
  start_postgres "$DATA/pg" "$PG_PORT" "${CATALOG_PG_SHARED_BUFFERS_MB:-$(catalog_shared_buffers_mb)}"
  export ConnectionStrings__Catalog="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=catalog"
fi
if [ -z "${ConnectionStrings__Redis:-}" ]; then
  start_redis "$DATA/redis" "$REDIS_PORT"
  export ConnectionStrings__Redis="127.0.0.1:$REDIS_PORT"
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
log "admin token: $TOKEN_FILE  (export CATALOG_TOKEN=\$(cat $TOKEN_FILE) for ./catalog and curl)"
log "catalog serving on $URLS (REST under /api/v1, GraphQL at /graphql, API docs at /scalar/v1)"
# Tier-up without the runtime's call-counting delay: it restarts while new methods keep being
# compiled, so under a storm the request path stayed in unoptimized tier-0 code for minutes (storm
# A/B: 7,154 and 6,606/s with 0 against 4,954 and 4,744/s without; docs/DESIGN.md). An environment
# variable because the runtime reads this knob from nowhere else.
export DOTNET_TC_CallCountingDelayMs="${DOTNET_TC_CallCountingDelayMs:-0}"
exec dotnet "$DATA/bin/Catalog.Api.dll" --urls "$URLS" --contentRoot "$DATA/bin"
