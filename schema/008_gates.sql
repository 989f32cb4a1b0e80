-- 008: what the read rule needs in SQL (docs/DESIGN.md, "Who may see what").
--
-- An entry is visible to a caller only if the caller may read it and search (x) every directory
-- above it. Most directories let everyone search them (x for owner, group and other); the rest are
-- "gates". Each directory carries gate_id: the nearest gate at or above it (itself when it is one),
-- null when there is none. A set-valued read first works out which gates in its range are closed
-- to the caller (it or a gate above it refuses x), then keeps rows whose gate_id is not among them:
-- one hashed array test per row, and no test at all for callers whom modes do not bind.

alter table directory add column gate_id bigint;

-- Gates and files not readable by everyone are few: the rule finds them through these small indexes.
create index directory_gate on directory (path) where (mode & 73) <> 73;
create index file_private on file (dir_id) where (mode & 292) <> 292;

-- The nearest gate at or above every directory below (and including) one directory.
create function directory_gates_refresh(top bigint) returns void language sql as $$
    with recursive t as (
        select d.id, case when (d.mode & 73) <> 73 then d.id else p.gate_id end as g
        from directory d left join directory p on p.id = d.parent_id
        where d.id = top
        union all
        select c.id, case when (c.mode & 73) <> 73 then c.id else t.g end
        from directory c join t on c.parent_id = t.id
    )
    update directory x set gate_id = t.g from t where x.id = t.id and x.gate_id is distinct from t.g
$$;

select directory_gates_refresh(id) from directory where parent_id is null;

-- A new directory: itself when it is a gate, else its parent's gate.
create function directory_gate_on_insert() returns trigger language plpgsql as $$
begin
    if (new.mode & 73) <> 73 then
        new.gate_id := new.id;
    elsif new.parent_id is not null then
        select gate_id into new.gate_id from directory where id = new.parent_id;
    end if;
    return new;
end $$;
create trigger directory_gate_on_insert before insert on directory
    for each row execute function directory_gate_on_insert();

-- A chmod that makes or unmakes a gate, or a move: the subtree below learns its new gate. After-row
-- triggers run at the end of the statement, when a move has rewritten every path of the subtree.
create function directory_gate_on_update() returns trigger language plpgsql as $$
begin
    perform directory_gates_refresh(new.id);
    return null;
end $$;
create trigger directory_gate_on_update after update of mode, parent_id on directory
    for each row when (((old.mode & 73) <> 73) is distinct from ((new.mode & 73) <> 73) or old.parent_id is distinct from new.parent_id)
    execute function directory_gate_on_update();
