-- 011: datasets are open (files may be added) or closed (no more files; only closed datasets go into
-- collections, so a collection's file list never grows), and may carry a lifetime after which they
-- are flagged for deletion (listed with expired=true; nothing is deleted by the catalog itself).
alter table dataset add column state smallint not null default 0,
                    add column closed timestamptz,
                    add column expires timestamptz;
create index dataset_expires on dataset (expires) where expires is not null;
