#!/usr/bin/env bash
# Test helper: `test-services.sh start DIR` starts a private PostgreSQL and Redis on free
# loopback ports under DIR and prints their connection strings (two lines);
# `test-services.sh restart-postgres DIR` restarts that PostgreSQL (fault tests);
# `test-services.sh stop DIR` stops them. Used by the test fixture.
set -euo pipefail
source "$(dirname "$0")/services.sh"
cmd=$1 dir=$2
case "$cmd" in
  start)
    ensure_packages >&2
    pg=$(free_port); rd=$(free_port)
    mkdir -p "$dir"
    # The huge pages these servers add are recorded and given back by stop.
    HUGE_PAGES_RECORD="$dir/hugepages" start_postgres "$dir/pg" "$pg" >&2
    start_redis "$dir/redis" "$rd" >&2
    echo "Host=127.0.0.1;Port=$pg;Username=postgres;Database=catalog"
    echo "127.0.0.1:$rd"
    ;;
  restart-postgres)
    # A fast restart (connections cut, as an operator's restart or a failover does), same port and
    # options (pg_ctl reads them back from postmaster.opts); the log goes on to the same file.
    PG_BIN=$(find_pg_bin)
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -m fast -w -t 60 restart >/dev/null
    ;;
  stop)
    PG_BIN=$(find_pg_bin)
    stop_postgres "$dir/pg"
    stop_redis "$dir/redis"
    release_huge_pages "$dir/hugepages"
    rm -rf "$dir" || { sleep 1; rm -rf "$dir"; }
    ;;
esac
