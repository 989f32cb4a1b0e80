-- 004: the cache flush epoch. A write whose cache invalidation could not reach Redis bumps it
-- (after its commit, before it is answered); every API process polls it and stops trusting
-- Redis entries stored under an older epoch. See Catalog.Storage.HotCache.
create table cache_epoch (
    id boolean primary key default true check (id),
    epoch bigint not null
);
insert into cache_epoch (id, epoch) values (true, 0);
