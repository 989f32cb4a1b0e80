-- 002: a request's attempts are numbered over its whole life (tries), not per round. A stuck request
-- retried on the stuck schedule starts a new round (attempts back to 0, which is what MaxAttempts
-- counts), and its first attempt of that round was numbered 1 again: the attempt row (transfer_id, 1)
-- existed, so the retry could never be dispatched ("duplicate key attempt_pkey", over and over).
alter table transfer add column tries integer not null default 0;
update transfer t set tries = coalesce((select max(a.attempt) from attempt a where a.transfer_id = t.id), 0);
alter table attempt alter column attempt type integer;
