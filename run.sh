#!/usr/bin/env bash
# Runs the catalog on http://127.0.0.1:5080 (CATALOG_URLS to change; a second checkout picks a
# free port), with a local PostgreSQL and Redis for this data folder (.data/, CATALOG_DATA to
# change) unless ConnectionStrings__Catalog / ConnectionStrings__Redis point elsewhere. Installs
# what is missing, migrates, then serves in the foreground. Ctrl-C stops the server and the
# services it started (CATALOG_KEEP_SERVICES=1 keeps PostgreSQL and Redis running).
#
#   ./run.sh          start everything (catalog, local grid, production, transfer and monitor), print the URLs
#   ./run.sh catalog  the catalog alone (PostgreSQL, Redis and the catalog server)
#   ./run.sh stop     stop everything this data folder started and release its huge pages
set -euo pipefail
cd "$(dirname "$0")"
source scripts/services.sh

DATA=${CATALOG_DATA:-$PWD/.data}
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
export HUGE_PAGES_RECORD="$DATA/hugepages"

stop_pid() {
  local file=$1 what=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null && { for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; log "$what stopped"; } || true
  rm -f "$file"
}

stop_all() {
  PG_BIN=$(find_pg_bin) || true
  stop_pid "$DATA/monitor.pid" "monitor"
  stop_pid "$DATA/transfer.pid" "transfer service"
  stop_pid "$DATA/production.pid" "production service"
  if [ -f "$DATA/grid/grid.env" ]; then bash scripts/grid.sh stop "$DATA/grid" && log "local grid (Slurm, XRootD SEs) stopped"; fi
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
  # A ./run.sh in the foreground stops everything itself on TERM: ask it, and wait for it, so its
  # own stop cannot run later and stop what a next ./run.sh has started.
  if [ -f "$DATA/run.pid" ] && kill -TERM "$(cat "$DATA/run.pid")" 2>/dev/null; then
    for _ in $(seq 1 600); do kill -0 "$(cat "$DATA/run.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
  fi
  stop_all
  exit 0
fi
echo $$ > "$DATA/run.pid"

ensure_packages

# module_token NAME ROLE SCOPE...: a year's token for a module service, readable by this user only.
module_token() {
  local name=$1 role=$2 scope args=(); shift 2
  for scope in "$@"; do args+=(--scope "$scope"); done
  (umask 077 && dotnet "$DATA/bin/Catalog.Api.dll" token issue --subject "$name" --role "$role" "${args[@]}" \
      --lifetime 365d --contentRoot "$DATA/bin" > "$DATA/auth/$name.token")
}

# build_module NAME: Catalog.<Name> built into the data folder (NAME-bin).
build_module() {
  local project="Catalog.${1^}"
  dotnet build -c Release -nologo -v q "$project/$project.csproj" -o "$DATA/$1-bin" >/dev/null
}

# launch_module NAME PORT [VAR=VALUE...]: starts the built service with that environment on PORT,
# records its pid and URL in the data folder, and waits until it is ready.
launch_module() {
  local name=$1 port=$2 project="Catalog.${1^}"; shift 2
  env "$@" dotnet "$DATA/$name-bin/$project.dll" --urls "http://127.0.0.1:$port" --contentRoot "$DATA/$name-bin" >> "$DATA/$name.log" 2>&1 &
  echo $! > "$DATA/$name.pid"
  echo "http://127.0.0.1:$port" > "$DATA/$name-url"
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
}

# The local grid (scripts/grid.sh) and the production service on it: the catalog's SE registry
# gets the grid's three SEs, /belle/MC goes to the service's own identity with the attributes its
# jobs write declared, and the service serves on PRODUCTION_PORT.
start_grid_and_production() {
  local admin; admin=$(cat "$TOKEN_FILE")
  bash scripts/grid.sh start "$DATA/grid"
  source "$DATA/grid/grid.env"
  export SLURM_CONF
  local site port
  for site in KEK DESY PNNL; do
    port="SE_${site}_PORT"
    # tier and region: what replication rules select SEs by (e.g. --se 'tier=1&region!=asia').
    local tier=1 region=europe
    case $site in KEK) tier=0 region=asia ;; PNNL) region=america ;; esac
    curl -fsS -X PUT -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
      -d "{\"site\":\"$site\",\"protocol\":\"root\",\"baseUrl\":\"root://127.0.0.1:${!port}/\",\"attributes\":{\"tier\":\"$tier\",\"region\":\"$region\"}}" \
      "${URLS%%;*}/api/v1/storage-elements/$site-DISK" >/dev/null
  done
  log "SEs KEK-DISK, DESY-DISK, PNNL-DISK registered in the catalog"
  module_token production producer storage.read:/belle storage.modify:/belle
  log "building the production service"
  build_module production
  # The job Slurm runs, compiled native: it starts without a JIT (0.03 instead of 0.35 CPU-seconds
  # per job; docs/BENCHMARKS.md). Native AOT links with clang; without it, the JIT build runs.
  unset Production__PayloadCommand
  [ "${CATALOG_NATIVE_JOB:-1}" != 1 ] || { command -v clang >/dev/null 2>&1 && [ -f /usr/include/zlib.h ]; } || { log "installing clang and zlib1g-dev (the job's native build)"; apt_install clang zlib1g-dev || true; }
  if [ "${CATALOG_NATIVE_JOB:-1}" = 1 ] && command -v clang >/dev/null 2>&1 && dotnet publish -c Release -nologo -v q -r linux-x64 -p:PublishAot=true \
       Catalog.Production.Job/Catalog.Production.Job.csproj -o "$DATA/production-job" >"$DATA/production-job.log" 2>&1; then
    export Production__PayloadCommand="$DATA/production-job/Catalog.Production.Job"
    log "the job payload is native ($Production__PayloadCommand)"
  else
    log "the job payload runs on the JIT (CATALOG_NATIVE_JOB=0, or the native build failed: $DATA/production-job.log)"
  fi
  export ConnectionStrings__Production="${ConnectionStrings__Catalog/Database=catalog/Database=production}"
  export Production__CatalogUrl="${URLS%%;*}/" Production__CatalogTokenFile="$DATA/auth/production.token"
  export Production__PublicUrl="http://127.0.0.1:$PRODUCTION_PORT/" Production__SpoolDirectory="$DATA/production"
  CATALOG_TOKEN="$admin" dotnet "$DATA/production-bin/Catalog.Production.dll" setup /belle/MC --contentRoot "$DATA/production-bin" >/dev/null
  launch_module production "$PRODUCTION_PORT"
  log "production service on http://127.0.0.1:$PRODUCTION_PORT (log: $DATA/production.log); try: ./catalog production ls"
  start_transfer
}

# The transfer service: a data manager's token over the whole namespace (it reads the change feed
# and registers and deletes replicas), its own database, serving on TRANSFER_PORT.
start_transfer() {
  module_token transfer data-manager storage.read:/ storage.modify:/
  log "building the transfer service"
  build_module transfer
  launch_module transfer "$TRANSFER_PORT" ConnectionStrings__Transfer="${ConnectionStrings__Catalog/Database=catalog/Database=transfer}" \
    Transfer__CatalogUrl="${URLS%%;*}/" Transfer__CatalogTokenFile="$DATA/auth/transfer.token"
  log "transfer service on http://127.0.0.1:$TRANSFER_PORT (log: $DATA/transfer.log); try: ./catalog rule ls, ./catalog transfer stats"
  start_monitor
}

# The monitor: probes every SE, the catalog, the services and each Slurm partition every minute,
# bans an SE that keeps failing (write-disabled in the catalog) and serves the dashboard. Its token
# is a data manager's (it reads the change feed, switches SEs, registers its probe file under /belle/monitor/probes).
start_monitor() {
  module_token monitor data-manager storage.read:/ storage.modify:/
  log "building the monitor (the dashboard's chart library comes from npm)"
  build_module monitor
  launch_module monitor "$MONITOR_PORT" ConnectionStrings__Monitor="${ConnectionStrings__Catalog/Database=catalog/Database=monitor}" \
    Monitor__CatalogUrl="${URLS%%;*}/" Monitor__CatalogTokenFile="$DATA/auth/monitor.token" \
    Monitor__ProductionUrl="http://127.0.0.1:$PRODUCTION_PORT/" Monitor__TransferUrl="http://127.0.0.1:$TRANSFER_PORT/" Monitor__SlurmConf="$SLURM_CONF"
  log "monitor and dashboard on http://127.0.0.1:$MONITOR_PORT/ (log: $DATA/monitor.log; linked from the catalog's ${URLS%%;*}/); try: ./catalog monitor"
}

# Ports are chosen once and remembered, so the data folder keeps working across runs.
if [ ! -f "$DATA/ports" ]; then
  pg=55432; port_open $pg && pg=$(free_port)
  rd=56379; port_open $rd && rd=$(free_port)
  api=5080; port_open $api && api=$(free_port)
  printf 'PG_PORT=%s\nREDIS_PORT=%s\nAPI_PORT=%s\n' "$pg" "$rd" "$api" > "$DATA/ports"
fi
source "$DATA/ports"
if [ -z "${PRODUCTION_PORT:-}" ]; then
  PRODUCTION_PORT=5090; port_open $PRODUCTION_PORT && PRODUCTION_PORT=$(free_port)
  echo "PRODUCTION_PORT=$PRODUCTION_PORT" >> "$DATA/ports"
fi
if [ -z "${TRANSFER_PORT:-}" ]; then
  TRANSFER_PORT=5091; port_open $TRANSFER_PORT && TRANSFER_PORT=$(free_port)
  echo "TRANSFER_PORT=$TRANSFER_PORT" >> "$DATA/ports"
fi
if [ -z "${MONITOR_PORT:-}" ]; then
  MONITOR_PORT=5092; port_open $MONITOR_PORT && MONITOR_PORT=$(free_port)
  echo "MONITOR_PORT=$MONITOR_PORT" >> "$DATA/ports"
fi
# The catalog's front page links the dashboard.
[ "${1:-}" = catalog ] || export Catalog__MonitorUrl="${Catalog__MonitorUrl:-http://127.0.0.1:$MONITOR_PORT/}"
URLS=${CATALOG_URLS:-http://127.0.0.1:${API_PORT:-5080}}
# ./catalog in this checkout talks to this URL.
echo "${URLS%%;*}" > "$DATA/url"

started_services=
on_exit() {
  trap - INT TERM EXIT
  if [ -n "$started_services" ] && [ "${CATALOG_KEEP_SERVICES:-}" != 1 ]; then stop_all
  else
    stop_pid "$DATA/monitor.pid" "monitor"
    stop_pid "$DATA/transfer.pid" "transfer service"
    stop_pid "$DATA/production.pid" "production service"
    kill "$(cat "$DATA/server.pid" 2>/dev/null)" 2>/dev/null || true; rm -f "$DATA/server.pid"
  fi
  rm -f "$DATA/run.pid"
}
# Set before anything starts: a start that fails half way (PostgreSQL refusing to start after its
# huge pages were reserved) gives back what it took instead of leaving it to ./run.sh stop.
# A signal stops everything and ends the script (a TERM while the grid is being started must not
# let the start carry on after the stop).
trap 'on_exit; exit 143' INT TERM
trap on_exit EXIT
if [ -z "${ConnectionStrings__Catalog:-}" ]; then
  started_services=1
  start_postgres "$(pg_dir_for "$DATA")" "$PG_PORT" "${CATALOG_PG_SHARED_BUFFERS_MB:-$(catalog_shared_buffers_mb)}"
  export ConnectionStrings__Catalog="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=catalog"
fi
if [ -z "${ConnectionStrings__Redis:-}" ]; then
  started_services=1
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
if [ "${1:-}" != catalog ]; then
  for _ in $(seq 1 300); do curl -fs "${URLS%%;*}/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  start_grid_and_production
fi
wait "$(cat "$DATA/server.pid")" || true
