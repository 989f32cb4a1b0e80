-- 012: updates of file and directory rows that move or resize nothing cost no trigger work.
--
-- The update triggers of 001, 007 and 010 were statement-level and joined the statement's old and
-- new rows. PL/pgSQL keeps the plan of such a join for the connection's life; planned for a one-row
-- update, it is a nested loop, and a later update of 10,000 rows on the same pooled connection (a
-- bulk metadata write, a recursive chown) compared 10,000 x 10,000 rows: 26 s instead of 0.5 s,
-- long enough to hit the command timeout. And every update of a file row, a metadata write
-- included, captured all its old and new rows for triggers that only care about moves.
--
-- Now:
-- - file moves, renames and size corrections are row-level triggers restricted to the columns
--   they read and guarded by WHEN, so other updates (metadata, owner, mode) never call them;
-- - directory renames likewise (a recursive chmod or a metadata change on a directory does not
--   call them);
-- - replica state changes stay statement-level (a bulk state change is one set-based insert) but
--   run their SQL through EXECUTE, planned for the rows at hand each time.

drop trigger file_move_replica_usage on file;
drop function file_move_replica_usage();

-- A file moved to another directory, or its size corrected: its usage leaves the old directory (and
-- each SE holding a replica) and arrives in the new one. Moving within a directory with a new size
-- nets to the size difference.
create function file_usage_moved() returns trigger language plpgsql as $$
begin
    insert into directory_usage as u (dir_id, se_id, shard, files, bytes)
    select x.dir_id, x.se_id, usage_shard(), sum(x.files), sum(x.bytes)
    from (
        select old.dir_id, 0::smallint as se_id, -1 as files, -old.size as bytes
        union all
        select new.dir_id, 0::smallint, 1, new.size
        union all
        select old.dir_id, r.se_id, -1, -old.size from replica r where r.file_id = old.id
        union all
        select new.dir_id, r.se_id, 1, new.size from replica r where r.file_id = new.id
    ) x
    group by x.dir_id, x.se_id order by x.dir_id, x.se_id
    on conflict (dir_id, se_id, shard) do update
        set files = u.files + excluded.files, bytes = u.bytes + excluded.bytes;
    if old.size <> new.size then
        insert into se_usage as u (se_id, shard, files, bytes)
        select r.se_id, usage_shard(), 0, new.size - old.size
        from replica r where r.file_id = new.id
        order by r.se_id
        on conflict (se_id, shard) do update
            set files = u.files + excluded.files, bytes = u.bytes + excluded.bytes;
    end if;
    return null;
end $$;

create trigger file_usage_moved after update of dir_id, size on file
    for each row when (old.dir_id <> new.dir_id or old.size <> new.size) execute function file_usage_moved();

drop trigger file_change_update on file;
drop function change_file_moves();

create function change_file_moved() returns trigger language plpgsql as $$
begin
    insert into change (kind, lfn, old_lfn, dataset, guid, size, adler32)
    select 5, d.path || '/' || new.name, od.path || '/' || old.name,
           case d.kind when 1 then d.path when 2 then p.path end, new.guid, new.size, new.adler32
    from directory d
    join directory od on od.id = old.dir_id
    left join directory p on d.kind = 2 and p.id = d.parent_id
    where d.id = new.dir_id;
    return null;
end $$;

create trigger file_change_moved after update of dir_id, name on file
    for each row when (old.dir_id <> new.dir_id or old.name <> new.name) execute function change_file_moved();

drop trigger directory_change_update on directory;
drop function change_directory_moves();

-- A directory rename rewrites the path of every directory below: one row per directory moved.
create function change_directory_moved() returns trigger language plpgsql as $$
begin
    insert into change (kind, lfn, old_lfn) values (6, new.path, old.path);
    return null;
end $$;

create trigger directory_change_moved after update of path on directory
    for each row when (old.path <> new.path) execute function change_directory_moved();

create or replace function change_replicas() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        execute $sql$
            insert into change (kind, lfn, dataset, guid, size, adler32, se_id, state)
            select 3, d.path || '/' || f.name, case d.kind when 1 then d.path when 2 then p.path end,
                   f.guid, f.size, f.adler32, n.se_id, n.state
            from new_rows n join old_rows o on o.file_id = n.file_id and o.se_id = n.se_id
            join file f on f.id = n.file_id join directory d on d.id = f.dir_id
            left join directory p on d.kind = 2 and p.id = d.parent_id
            where n.state <> o.state
            order by n.file_id, n.se_id
            $sql$;
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
