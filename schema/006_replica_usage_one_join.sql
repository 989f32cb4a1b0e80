-- 006: the replica usage trigger joins its transition rows to file once, not once per counter
-- table: one aggregate by (directory, SE) feeds both upserts. The join is a probe of file_pkey
-- per replica row. The directory counters are still upserted before the SE counters (the
-- unreferenced data-modifying CTE runs after the main statement), so lock order is unchanged.
create or replace function replica_usage() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        with delta as materialized (
            select f.dir_id, n.se_id, count(*) as files, sum(f.size) as bytes
            from new_rows n join file f on f.id = n.file_id group by f.dir_id, n.se_id
        ), per_se as (
            insert into se_usage as u (se_id, shard, files, bytes)
            select d.se_id, usage_shard(), sum(d.files), sum(d.bytes) from delta d group by d.se_id order by d.se_id
            on conflict (se_id, shard) do update
                set files = u.files + excluded.files, bytes = u.bytes + excluded.bytes
        )
        insert into directory_usage as u (dir_id, se_id, shard, files, bytes)
        select d.dir_id, d.se_id, usage_shard(), d.files, d.bytes from delta d order by d.dir_id, d.se_id
        on conflict (dir_id, se_id, shard) do update
            set files = u.files + excluded.files, bytes = u.bytes + excluded.bytes;
    else
        with delta as materialized (
            select f.dir_id, o.se_id, -count(*) as files, -sum(f.size) as bytes
            from old_rows o join file f on f.id = o.file_id group by f.dir_id, o.se_id
        ), per_se as (
            insert into se_usage as u (se_id, shard, files, bytes)
            select d.se_id, usage_shard(), sum(d.files), sum(d.bytes) from delta d group by d.se_id order by d.se_id
            on conflict (se_id, shard) do update
                set files = u.files + excluded.files, bytes = u.bytes + excluded.bytes
        )
        insert into directory_usage as u (dir_id, se_id, shard, files, bytes)
        select d.dir_id, d.se_id, usage_shard(), d.files, d.bytes from delta d order by d.dir_id, d.se_id
        on conflict (dir_id, se_id, shard) do update
            set files = u.files + excluded.files, bytes = u.bytes + excluded.bytes;
    end if;
    return null;
end $$;
