-- The transfer service's own database (never the catalog's): rules, the files they cover, locks,
-- the transfer queue with every attempt, deletions, and where the change feed was read to.

-- selector_kind: 0 dataset, 1 collection, 2 prefix, 3 query. state: RuleState (0 ok, 1 replicating,
-- 2 stuck, 3 suspended). targets: the SE names the expression matched when the rule was made.
create table rule (
    id            bigserial primary key,
    account       text not null,
    selector_kind smallint not null,
    selector      text not null,
    under         text,
    members       text[],                  -- a collection's datasets (collections are frozen)
    copies        smallint not null check (copies > 0),
    se_expression text not null,
    targets       text[] not null,
    priority      smallint not null,
    state         smallint not null,
    reason        text,
    comment       text,
    expires_at    timestamptz,
    evaluated     boolean not null default false, -- its first evaluation finished (else the next start does it)
    created       timestamptz not null default now(),
    updated       timestamptz not null default now()
);

-- The files rules cover, as the catalog described them (LFN, size, checksum).
create table file (
    id      bigserial primary key,
    size    bigint not null,
    adler32 text not null,
    lfn     text collate "C" not null unique
);

-- One lock per (rule, file, SE): that rule needs that replica. state: LockState (0 ok,
-- 1 replicating, 2 stuck). Overlapping rules hold one lock each on the same replica; the
-- replica is deleted only when no lock is left, and copied only once (one transfer per file and SE).
create table lock (
    rule_id bigint not null references rule (id) on delete cascade,
    file_id bigint not null references file (id) on delete cascade,
    se      text not null,
    state   smallint not null,
    primary key (rule_id, file_id, se)
);
create index lock_replica on lock (file_id, se);
-- What a rule still waits for (replicating, stuck): small, while a rule's OK locks are counted on the key.
create index lock_unsettled on lock (rule_id, state) where state <> 0;

-- The queue. state: TransferState (0 queued, 1 active, 2 done, 3 stuck, 4 canceled). At most one
-- live (queued, active or stuck) request per file and destination, whatever number of rules want it.
create table transfer (
    id           bigserial primary key,
    file_id      bigint not null references file (id) on delete cascade,
    destination  text not null,
    source       text,
    state        smallint not null,
    priority     smallint not null,
    attempts     smallint not null default 0,
    reason       text,
    next_attempt timestamptz not null default now(),
    created      timestamptz not null default now(),
    updated      timestamptz not null default now()
);
create unique index transfer_live on transfer (file_id, destination) where state in (0, 1, 3);
create index transfer_ready on transfer (priority desc, next_attempt, id) where state = 0;
create index transfer_stuck on transfer (next_attempt) where state = 3;
create index transfer_active on transfer (id) where state = 1;

-- Every attempt, written before the copy starts (outcome 0) and closed after: per-link statistics
-- and the reasons users see come from here. outcome: 0 running, 1 done, 2 failed.
create table attempt (
    transfer_id  bigint not null references transfer (id) on delete cascade,
    attempt      smallint not null,
    source       text not null,
    destination  text not null,
    started      timestamptz not null default now(),
    finished     timestamptz,
    outcome      smallint not null default 0,
    bytes        bigint not null,
    reason_class text,
    reason       text,
    primary key (transfer_id, attempt)
);
create index attempt_link on attempt (finished, source, destination);

-- Replicas no lock needs any more, to delete from the catalog and the SE. state 0 pending,
-- 1 deleting (the catalog entry is going; a new lock then waits for it).
create table deletion (
    file_id bigint not null references file (id) on delete cascade,
    se      text not null,
    state   smallint not null default 0,
    created timestamptz not null default now(),
    primary key (file_id, se)
);

-- The per-link concurrency the optimizer settled on, and why (kept across restarts).
create table link (
    source      text not null,
    destination text not null,
    concurrency integer not null,
    note        text,
    updated     timestamptz not null default now(),
    primary key (source, destination)
);

-- Where the catalog's change feed has been read to.
create table feed_cursor (
    one    boolean primary key default true check (one),
    cursor text not null,
    read   timestamptz not null default now()
);
