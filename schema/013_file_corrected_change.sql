-- 013: a correction of a file (its size, checksum or status: POST /files/correct) is a change-feed
-- event of its own (kind 7), with the new values, so a consumer that keeps the file's description
-- (the transfer service verifies copies against the checksum) follows the correction instead of
-- failing on the old value. Row-level, restricted to those columns and guarded by WHEN: any other
-- update of a file row calls nothing (schema/012).
create function change_file_corrected() returns trigger language plpgsql as $$
begin
    insert into change (kind, lfn, dataset, guid, size, adler32)
    select 7, d.path || '/' || new.name, case d.kind when 1 then d.path when 2 then p.path end,
           new.guid, new.size, new.adler32
    from directory d left join directory p on d.kind = 2 and p.id = d.parent_id
    where d.id = new.dir_id;
    return null;
end $$;

create trigger file_change_corrected after update of size, adler32, md5, status on file
    for each row when (old.size <> new.size or old.adler32 <> new.adler32 or old.md5 is distinct from new.md5 or old.status <> new.status)
    execute function change_file_corrected();
