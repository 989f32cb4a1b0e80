-- 014: an SE renamed (POST /storage-elements/{name}/rename) is a change-feed event (kind 8) with the
-- SE (its id, so its current name) and the old name (kept in old_lfn), so a consumer that names SEs
-- (the transfer service's rules, locks and queue) follows the rename. It has no LFN (''), so only
-- an unfiltered reader of the feed sees it.
create function change_se_renamed() returns trigger language plpgsql as $$
begin
    insert into change (kind, lfn, old_lfn, se_id) values (8, '', old.name, new.id);
    return null;
end $$;

create trigger storage_element_change_renamed after update of name on storage_element
    for each row when (old.name <> new.name) execute function change_se_renamed();
