-- 004: a page of the change feed is applied in several steps, and its cursor is stored after the
-- last. A page applied again after a failure half way applied its removals and moves twice: a
-- removal of LFN a, applied again after a file had been moved onto a in the same page, forgot the
-- moved file (its locks went, its live transfers were canceled). A page's removals and moves are
-- now applied in one transaction that records how many changes after which cursor they covered;
-- a page read again from that cursor (the same changes first, maybe more after them) skips those.
alter table feed_cursor add column renamed_from text;
alter table feed_cursor add column renamed_count integer not null default 0;
