-- The metadata catalog (AMGA's successor): typed attribute schemas, values on files and
-- directories, datasets with datablocks, frozen collections and lineage.

-- Values. A file's own values live in file.metadata (since 001). A directory's own values in
-- directory.metadata; eff_metadata is the directory's values merged with every ancestor's, kept
-- current by the service when a directory's values change (a rewrite of directory rows below it,
-- never of file rows). An attribute is set at one level of a path only, so the merge never conflicts.
alter table directory add column metadata jsonb;
alter table directory add column eff_metadata jsonb;
-- 0 directory, 1 dataset (an LPN), 2 datablock (subNN of a dataset), 3 collection
alter table directory add column kind smallint not null default 0;
create index directory_kind on directory (kind) where kind <> 0;
create index directory_eff_metadata on directory using gin (eff_metadata jsonb_path_ops);

-- Declared attributes. target 0 = files, 1 = directories (datasets, collections): a dataset-level
-- attribute is carried by directories and inherited by everything below them.
-- type: 0 integer, 1 float, 2 string, 3 boolean, 4 timestamp.
create table attribute_def (
    id       integer generated always as identity primary key,
    dir_id   bigint not null references directory (id) on delete cascade,
    name     text collate "C" not null,
    target   smallint not null,
    type     smallint not null,
    allowed  jsonb,
    indexed  boolean not null default false,
    created  timestamptz not null default now(),
    constraint attribute_def_unique unique (dir_id, name, target)
);
create index attribute_def_name on attribute_def (name);

-- Directories whose files and subdirectories may carry undeclared attributes.
create table metadata_policy (
    dir_id     bigint primary key references directory (id) on delete cascade,
    permissive boolean not null
);

-- Datasets: the datablock that takes new files and how full it is, changed under the row lock.
create table dataset (
    dir_id        bigint primary key references directory (id) on delete cascade,
    max_files     integer not null check (max_files > 0),
    current_block integer not null default 0,
    current_count integer not null default 0
);

-- Collections: frozen at creation.
create table collection_member (
    collection_id bigint not null references directory (id) on delete cascade,
    member_id     bigint not null references directory (id),
    primary key (collection_id, member_id)
);
create index collection_member_member on collection_member (member_id);

-- Lineage: the files a file was made from.
create table file_parent (
    child_id  bigint not null references file (id) on delete cascade,
    parent_id bigint not null references file (id) on delete cascade,
    primary key (child_id, parent_id)
);
create index file_parent_parent on file_parent (parent_id);

-- A number from a jsonb attribute, or null when absent or not a number (never a cast error).
create function num(doc jsonb, key text) returns numeric language sql immutable parallel safe
as $$ select case when jsonb_typeof(doc -> key) = 'number' then (doc ->> key)::numeric end $$;
