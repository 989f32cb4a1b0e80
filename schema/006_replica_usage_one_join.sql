-- 006: the replica usage trigger joins its transition rows to file once, not once per counter
-- table: one aggregate by (directory, SE) feeds both upserts. The join is a probe of file_pkey
-- per replica row. The directory counters are still upserted before the SE counters (the
-- unreferenced data-modifying CTE runs after the main statement), so lock order is unchanged.
-- One statement for both directions, so it is run through EXECUTE (transition tables are visible
-- there); planning it per statement costs well under a millisecond.
create or replace function replica_usage() returns trigger language plpgsql as $$
begin
    execute format($sql$
        with delta as materialized (
            select f.dir_id, t.se_id, %1$s count(*) as files, %1$s sum(f.size) as bytes
            from %2$I t join file f on f.id = t.file_id group by f.dir_id, t.se_id
        ), per_se as (
            insert into se_usage as u (se_id, shard, files, bytes)
            select d.se_id, usage_shard(), sum(d.files), sum(d.bytes) from delta d group by d.se_id order by d.se_id
            on conflict (se_id, shard) do update
                set files = u.files + excluded.files, bytes = u.bytes + excluded.bytes
        )
        insert into directory_usage as u (dir_id, se_id, shard, files, bytes)
        select d.dir_id, d.se_id, usage_shard(), d.files, d.bytes from delta d order by d.dir_id, d.se_id
        on conflict (dir_id, se_id, shard) do update
            set files = u.files + excluded.files, bytes = u.bytes + excluded.bytes
        $sql$,
        case when tg_op = 'INSERT' then '' else '-' end,
        case when tg_op = 'INSERT' then 'new_rows' else 'old_rows' end);
    return null;
end $$;
