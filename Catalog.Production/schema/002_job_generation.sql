-- A job's output generation: retries of a job keep it (they register under the same idempotency
-- key, so a retry can never make a second output); a recover that finds the job's registered output
-- gone from the catalog starts a new one, whose registration is then a new request, not a replay.
alter table job add column generation smallint not null default 0;
