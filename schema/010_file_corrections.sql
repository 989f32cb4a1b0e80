-- 010: a data manager may correct a file's size (POST /api/v1/files/correct). The usage counters
-- then follow: the update trigger, written when a file's size never changed, now moves the counts
-- of a file whose directory or size changes (the old row's out, the new row's in), and the per-SE
-- totals take the size difference of each replica.
create or replace function file_move_replica_usage() returns trigger language plpgsql as $$
begin
    insert into directory_usage as u (dir_id, se_id, shard, files, bytes)
    select x.dir_id, x.se_id, usage_shard(), sum(x.files), sum(x.bytes)
    from (
        select o.dir_id, 0::smallint as se_id, -1 as files, -o.size as bytes
        from old_rows o join new_rows n on n.id = o.id where o.dir_id <> n.dir_id or o.size <> n.size
        union all
        select n.dir_id, 0::smallint, 1, n.size
        from old_rows o join new_rows n on n.id = o.id where o.dir_id <> n.dir_id or o.size <> n.size
        union all
        select o.dir_id, r.se_id, -1, -o.size
        from old_rows o join new_rows n on n.id = o.id join replica r on r.file_id = o.id
        where o.dir_id <> n.dir_id or o.size <> n.size
        union all
        select n.dir_id, r.se_id, 1, n.size
        from old_rows o join new_rows n on n.id = o.id join replica r on r.file_id = n.id
        where o.dir_id <> n.dir_id or o.size <> n.size
    ) x
    group by x.dir_id, x.se_id order by x.dir_id, x.se_id
    on conflict (dir_id, se_id, shard) do update
        set files = u.files + excluded.files, bytes = u.bytes + excluded.bytes;
    insert into se_usage as u (se_id, shard, files, bytes)
    select r.se_id, usage_shard(), 0, sum(n.size - o.size)
    from old_rows o join new_rows n on n.id = o.id join replica r on r.file_id = n.id
    where o.size <> n.size
    group by r.se_id order by r.se_id
    on conflict (se_id, shard) do update
        set files = u.files + excluded.files, bytes = u.bytes + excluded.bytes;
    return null;
end $$;
