#!/usr/bin/env bash
# Installs (when missing) and starts a private PostgreSQL and Redis for the catalog.
# Sourced by run.sh and test.sh; everything lives under one data folder so nothing
# outside the checkout is touched except the packages apt installs.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${_CATALOG_APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null
    _CATALOG_APT_UPDATED=1
  fi
  apt-get install -y -qq "$@" >/dev/null
}

find_pg_bin() {
  if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  return 1
}

ensure_packages() {
  if ! PG_BIN=$(find_pg_bin); then
    log "installing PostgreSQL from Debian"
    apt_install postgresql
    PG_BIN=$(find_pg_bin)
  fi
  export PG_BIN
  if ! command -v curl >/dev/null 2>&1; then
    log "installing curl from Debian"
    apt_install curl
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing redis-server from Debian"
    apt_install redis-server
  fi
  # The catalog normalizes LFNs to Unicode NFC, which .NET does through ICU.
  if ! ldconfig -p 2>/dev/null | grep -q libicuuc; then
    log "installing ICU from Debian"
    apt_install libicu72
  fi
  # The monitor's dashboard takes its chart library from npm when it is built.
  if ! command -v npm >/dev/null 2>&1; then
    log "installing Node.js and npm from Debian"
    apt_install nodejs npm
  fi
  if ! command -v dotnet >/dev/null 2>&1; then
    log "the .NET 10 SDK is required (dotnet on PATH)"; exit 1
  fi
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Runs a command as the postgres user: the server binaries refuse to run as root.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Reserves huge pages for shared_buffers when the kernel lets us: point lookups ran 3-4x
# faster with them on this machine kind. huge_pages=try keeps working where it cannot.
# reserve_huge_pages COUNT [RECORD_FILE]: with RECORD_FILE, adds COUNT pages to the kernel's pool
# (other checkouts' reservations stay) and writes how many it added there, so release_huge_pages
# gives back exactly those; without, makes the pool at least COUNT pages.
huge_pages_lock() { if [ -d /run/lock ]; then echo /run/lock/catalog-hugepages.lock; else echo /tmp/catalog-hugepages.lock; fi; }

reserve_huge_pages() {
  local want=$1 record=${2:-}
  [ -w /proc/sys/vm/nr_hugepages ] || return 0
  local have now; have=$(cat /proc/sys/vm/nr_hugepages)
  if [ -z "$record" ]; then
    # Unrecorded (the tests' private servers): the pool is only made large enough.
    [ "$have" -lt "$want" ] && echo "$want" > /proc/sys/vm/nr_hugepages 2>/dev/null || true
    return 0
  fi
  # The pool is one number for the whole machine: two checkouts adding and giving back at once
  # (read, then write) could overwrite each other's change, so every change holds one lock.
  local lock; exec {lock}>"$(huge_pages_lock)"
  flock "$lock"
  have=$(cat /proc/sys/vm/nr_hugepages)
  echo $(( have + want )) > /proc/sys/vm/nr_hugepages 2>/dev/null || true
  now=$(cat /proc/sys/vm/nr_hugepages)
  echo $(( now - have )) > "$record"
  flock -u "$lock"; exec {lock}>&-
}

release_huge_pages() {
  local record=$1 claimed="$1.releasing.$$"
  [ -w /proc/sys/vm/nr_hugepages ] || return 0
  # Claimed by an atomic rename: of two stops at once (./run.sh stop and the trap of the run.sh it
  # stops), only one gives the pages back.
  mv "$record" "$claimed" 2>/dev/null || return 0
  local lock; exec {lock}>"$(huge_pages_lock)"
  flock "$lock"
  local mine have; mine=$(cat "$claimed"); have=$(cat /proc/sys/vm/nr_hugepages)
  [ "$mine" -gt 0 ] && echo $(( have > mine ? have - mine : 0 )) > /proc/sys/vm/nr_hugepages 2>/dev/null || true
  flock -u "$lock"; exec {lock}>&-
  if [ "$mine" -gt 0 ]; then log "gave back $mine huge pages"; fi
  rm -f "$claimed"
}

# shared_buffers for the catalog ./run.sh serves: a quarter of the machine's memory, between
# 256 MB and 8 GB, so the lookup indexes of a large catalog stay in PostgreSQL's own cache (random
# bulk lookups over a 19-million-file catalog: docs/BENCHMARKS.md, third session).
# A quarter of the memory still available, so a second checkout's catalog on the same machine
# takes a quarter of what the first left, not a second quarter of the whole.
catalog_shared_buffers_mb() {
  local mb=$(( $(awk '/^MemAvailable/ {print $2}' /proc/meminfo) / 1024 / 4 ))
  [ "$mb" -gt 8192 ] && mb=8192
  [ "$mb" -lt 256 ] && mb=256
  echo "$mb"
}

# pg_dir_for DATA: where PostgreSQL keeps the data of DATA. The server runs as postgres, which
# must be able to reach its folder: DATA/pg when it can, otherwise (a checkout in a private
# folder such as root's 0700 home) a folder of its own under /var/lib/catalog, named after DATA.
# The user's folders are never loosened.
pg_dir_for() {
  local data; data=$(cd "$1" && pwd)
  if [ -f "$data/pg.location" ]; then cat "$data/pg.location"; return; fi
  if [ "$(id -u)" != 0 ] || as_postgres test -x "$data" 2>/dev/null; then echo "$data/pg"; return; fi
  local dir="/var/lib/catalog/$(printf '%s' "$data" | sha1sum | cut -c1-12)/pg"
  mkdir -p "$(dirname "$dir")"
  echo "$dir" > "$data/pg.location"
  echo "$dir"
}

# start_postgres DATA_DIR PORT [SHARED_BUFFERS_MB]: initializes on first use, starts if not
# running. shared_buffers defaults to 256 MB (the test fixture's private servers).
start_postgres() {
  local dir=$1 port=$2 buffers=${3:-256}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "initializing PostgreSQL in $dir"
    chown postgres: "$dir"; chmod 700 "$dir"
    as_postgres "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
    cat >> "$dir/postgresql.conf" <<CONF
# catalog settings (scripts/services.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
huge_pages = try
work_mem = 16MB
maintenance_work_mem = 256MB
wal_compression = lz4
max_wal_size = 4GB
checkpoint_timeout = 15min
random_page_cost = 1.1
effective_cache_size = 8GB
synchronous_commit = on
logging_collector = off
CONF
  fi
  if as_postgres "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    log "PostgreSQL already running in $dir"
    return
  fi
  # As many 2 MB pages as this server's shared memory needs (PostgreSQL computes it): with fewer,
  # huge_pages=try quietly falls back to 4 kB pages for all of it.
  reserve_huge_pages "$(as_postgres "$PG_BIN/postgres" -D "$dir" -c shared_buffers="${buffers}MB" -C shared_memory_size_in_huge_pages 2>/dev/null || echo $(( buffers / 2 + 64 )))" "${HUGE_PAGES_RECORD:-}"
  # lz4, not pglz ("on"): after a checkpoint every first change of a page logs the whole page, and
  # pglz compressing those made 2,000 inserts of random idempotency keys take 300 ms instead of 80.
  # Given on the command line too, so data folders made before this line follow it.
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$dir" -o "-p $port -c wal_compression=lz4 -c shared_buffers=${buffers}MB" -l "$dir/server.log" -w -t 60 start >/dev/null; then
    echo "PostgreSQL did not start on port $port; the end of $dir/server.log:" >&2
    tail -n 15 "$dir/server.log" >&2 || true
    return 1
  fi
  as_postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "select 1 from pg_database where datname='catalog'" | grep -q 1 ||
    as_postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "create database catalog" >/dev/null
  log "PostgreSQL listening on 127.0.0.1:$port"
}

stop_postgres() {
  local dir=$1
  [ -f "$dir/PG_VERSION" ] && as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# start_redis DATA_DIR PORT: a cache only, so no persistence. volatile-lru: only values and
# generation markers (which carry a TTL) are ever evicted, never the epoch keys (see HotCache).
start_redis() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    log "Redis already running (pid $(cat "$dir/redis.pid"))"
    return
  fi
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --maxmemory 1gb \
    --maxmemory-policy volatile-lru
  local i
  for i in $(seq 1 50); do port_open "$port" && break; sleep 0.1; done
  log "Redis listening on 127.0.0.1:$port"
}

stop_redis() {
  local dir=$1 pid i
  [ -f "$dir/redis.pid" ] || return 0
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  # Redis exits asynchronously (it removes its pid file and writes its log on the way out): wait,
  # so a caller removing the folder next does not race it.
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}
