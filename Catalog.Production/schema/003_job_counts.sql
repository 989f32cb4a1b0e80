-- A production's status in milliseconds at any size: jobs counted per (production, site, state,
-- failure class), kept by statement-level triggers from the statements' transition tables (one
-- grouped upsert per statement, so planning a million jobs by COPY adds one aggregate, not a million
-- row triggers). Counter rows are upserted in key order, so two transactions never wait on each
-- other's counters in opposite orders. Counting the job index instead took 130-480 ms at 1,000,000
-- jobs (BENCHMARKS.md).
create table job_count (
    production_id bigint not null,
    site text not null,
    state smallint not null,
    failure_class smallint not null,   -- -1: none
    jobs bigint not null,
    primary key (production_id, site, state, failure_class)
);

create function job_count_add() returns trigger language plpgsql as $$
begin
    insert into job_count (production_id, site, state, failure_class, jobs)
    select production_id, site, state, coalesce(failure_class, -1), count(*)
    from new_rows group by 1, 2, 3, 4 order by 1, 2, 3, 4
    on conflict (production_id, site, state, failure_class) do update set jobs = job_count.jobs + excluded.jobs;
    return null;
end $$;

create function job_count_move() returns trigger language plpgsql as $$
begin
    insert into job_count (production_id, site, state, failure_class, jobs)
    select production_id, site, state, fc, sum(n) from (
        select production_id, site, state, coalesce(failure_class, -1) as fc, count(*) as n from new_rows group by 1, 2, 3, 4
        union all
        select production_id, site, state, coalesce(failure_class, -1), -count(*) from old_rows group by 1, 2, 3, 4) d
    group by 1, 2, 3, 4 having sum(n) <> 0 order by 1, 2, 3, 4
    on conflict (production_id, site, state, failure_class) do update set jobs = job_count.jobs + excluded.jobs;
    return null;
end $$;

create trigger job_count_add after insert on job referencing new table as new_rows
    for each statement execute function job_count_add();
create trigger job_count_move after update on job referencing old table as old_rows new table as new_rows
    for each statement execute function job_count_move();

insert into job_count (production_id, site, state, failure_class, jobs)
select production_id, site, state, coalesce(failure_class, -1), count(*) from job group by 1, 2, 3, 4;
