-- 007: the change feed (GET /api/v1/changes) and free-form SE attributes (for rule expressions).
--
-- Every change is written by statement-level triggers in the transaction of the change itself:
-- a registration that commits has its rows here, one that rolls back has none, and no code path
-- (bulk, subtree removal, rename) can forget to report. Readers page by (xid, id) and only ever
-- see rows of transactions older than the oldest one still running (the snapshot's xmin): a
-- transaction that commits late can never slip in below a cursor already handed out. The price is
-- that the feed lags by the longest write transaction in flight. docs/DESIGN.md has the argument.

create table change (
    xid     xid8 not null default pg_current_xact_id(),
    id      bigint generated always as identity,
    at      timestamptz not null default now(),
    size    bigint,
    guid    uuid,
    adler32 integer,
    -- 0 file registered, 1 file removed, 2 replica added, 3 replica state changed,
    -- 4 replica removed, 5 file moved, 6 directory moved
    kind    smallint not null,
    se_id   smallint,
    state   smallint,
    lfn     text collate "C" not null,
    dataset text collate "C",
    old_lfn text collate "C",
    primary key (xid, id)
);
create index change_at on change using brin (at);

-- How far retention has deleted: a cursor at or below it may have missed changes (410 Gone).
create table change_horizon (
    one     boolean primary key default true check (one),
    xid     xid8 not null,
    id      bigint not null,
    at      timestamptz not null
);

-- The dataset of a file is its directory when that is a dataset (kind 1), or the directory above
-- when it is a datablock (kind 2) of one.
create function change_files() returns trigger language plpgsql as $$
begin
    execute format($sql$
        insert into change (kind, lfn, dataset, guid, size, adler32)
        select %1$s, d.path || '/' || t.name,
               case d.kind when 1 then d.path when 2 then p.path end, t.guid, t.size, t.adler32
        from %2$I t join directory d on d.id = t.dir_id
        left join directory p on d.kind = 2 and p.id = d.parent_id
        order by t.id
        $sql$,
        case when tg_op = 'INSERT' then 0 else 1 end,
        case when tg_op = 'INSERT' then 'new_rows' else 'old_rows' end);
    return null;
end $$;

create trigger file_change_insert after insert on file
    referencing new table as new_rows for each statement execute function change_files();
create trigger file_change_delete after delete on file
    referencing old table as old_rows for each statement execute function change_files();

-- Renames and moves of single files (a metadata or mode update changes neither column: no row).
create function change_file_moves() returns trigger language plpgsql as $$
begin
    insert into change (kind, lfn, old_lfn, dataset, guid, size, adler32)
    select 5, d.path || '/' || n.name, od.path || '/' || o.name,
           case d.kind when 1 then d.path when 2 then p.path end, n.guid, n.size, n.adler32
    from new_rows n join old_rows o on o.id = n.id
    join directory d on d.id = n.dir_id
    join directory od on od.id = o.dir_id
    left join directory p on d.kind = 2 and p.id = d.parent_id
    where n.dir_id <> o.dir_id or n.name <> o.name
    order by n.id;
    return null;
end $$;

create trigger file_change_update after update on file
    referencing new table as new_rows old table as old_rows for each statement execute function change_file_moves();

-- A directory rename rewrites the path of every directory below: one row per directory moved.
create function change_directory_moves() returns trigger language plpgsql as $$
begin
    insert into change (kind, lfn, old_lfn)
    select 6, n.path, o.path
    from new_rows n join old_rows o on o.id = n.id
    where n.path <> o.path
    order by n.path;
    return null;
end $$;

create trigger directory_change_update after update on directory
    referencing new table as new_rows old table as old_rows for each statement execute function change_directory_moves();

-- Replicas: the file row is still there when its replicas go (they are always deleted first).
create function change_replicas() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        insert into change (kind, lfn, dataset, guid, size, adler32, se_id, state)
        select 3, d.path || '/' || f.name, case d.kind when 1 then d.path when 2 then p.path end,
               f.guid, f.size, f.adler32, n.se_id, n.state
        from new_rows n join old_rows o on o.file_id = n.file_id and o.se_id = n.se_id
        join file f on f.id = n.file_id join directory d on d.id = f.dir_id
        left join directory p on d.kind = 2 and p.id = d.parent_id
        where n.state <> o.state
        order by n.file_id, n.se_id;
    else
        execute format($sql$
            insert into change (kind, lfn, dataset, guid, size, adler32, se_id, state)
            select %1$s, d.path || '/' || f.name, case d.kind when 1 then d.path when 2 then p.path end,
                   f.guid, f.size, f.adler32, t.se_id, t.state
            from %2$I t join file f on f.id = t.file_id join directory d on d.id = f.dir_id
            left join directory p on d.kind = 2 and p.id = d.parent_id
            order by t.file_id, t.se_id
            $sql$,
            case when tg_op = 'INSERT' then 2 else 4 end,
            case when tg_op = 'INSERT' then 'new_rows' else 'old_rows' end);
    end if;
    return null;
end $$;

create trigger replica_change_insert after insert on replica
    referencing new table as new_rows for each statement execute function change_replicas();
create trigger replica_change_delete after delete on replica
    referencing old table as old_rows for each statement execute function change_replicas();
create trigger replica_change_update after update on replica
    referencing new table as new_rows old table as old_rows for each statement execute function change_replicas();

-- Free-form SE attributes (tier, region, ...): what rule expressions select SEs by.
alter table storage_element add column attributes jsonb not null default '{}';
