-- The monitor's own database: probe results, target status with its history, scheduled
-- downtimes, and time series (one-minute points, hourly averages beyond them).

-- What is probed, and where its status stands. The consecutive counters carry the hysteresis;
-- catalog is what the monitor itself has switched off in the catalog's SE registry ('' nothing,
-- 'no-writes', 'down'), so a recovery only turns back on what the monitor turned off, never an
-- operator's own setting.
create table target (
    name text primary key,
    kind smallint not null,
    status smallint not null default 0,
    failures integer not null default 0,
    passes integer not null default 0,
    reason text,
    since timestamptz not null default now(),
    catalog text not null default '',
    last_seen timestamptz not null default now()
);

create table probe (
    id bigserial primary key,
    target text not null,
    at timestamptz not null,
    ok boolean not null,
    ms real not null,
    steps jsonb not null,
    error text
);
create index probe_target_at on probe (target, at desc);
create index probe_at on probe (at);

create table status_change (
    id bigserial primary key,
    target text not null,
    at timestamptz not null default now(),
    from_status smallint not null,
    to_status smallint not null,
    reason text not null
);
create index status_change_target on status_change (target, at desc);

create table downtime (
    id bigserial primary key,
    target text not null,
    starts timestamptz not null,
    ends timestamptz not null,
    drain_from timestamptz not null,
    reason text not null,
    owner text not null,
    check (ends > starts and drain_from <= starts)
);
create index downtime_ends on downtime (ends);

-- A series is a metric name and its labels ({"site":"KEK","state":"running"}); its points are
-- one per minute (v: the minute's value; counters add into it, gauges overwrite it).
create table series (
    id serial primary key,
    name text not null,
    labels jsonb not null,
    unique (name, labels)
);

-- The key covers the value: a chart reads index-only, a series' minutes side by side in the
-- index, where the heap has every minute's rows of all series interleaved (one page per row read:
-- 3x slower on 30 days x 50 sites, docs/BENCHMARKS.md).
create table point (
    series_id integer not null,
    t timestamptz not null,
    v double precision not null,
    primary key (series_id, t) include (v)
);

-- Hourly averages and maxima, kept long after the minutes are dropped (downsampled, not lost).
create table point_hour (
    series_id integer not null,
    t timestamptz not null,
    v double precision not null,
    vmax double precision not null,
    n integer not null,
    primary key (series_id, t) include (v)
);

-- Failures grouped by their masked text, per source (jobs, transfers, probes), production and site.
create table failure (
    source text not null,
    production text not null default '',
    site text not null default '',
    reason text not null,
    count bigint not null,
    last_seen timestamptz not null,
    example text not null,
    primary key (source, production, site, reason)
);

-- Where each passive reader stopped (the change feed's cursor, the last transfer window's end, counters' last values).
create table cursor (
    name text primary key,
    value text not null
);
