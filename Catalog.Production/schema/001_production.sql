-- The production service's own database (never the catalog's): productions, their jobs, the
-- submissions that reserve jobs before sbatch, and the outputs jobs uploaded.

create table production (
    id bigserial primary key,
    name text not null unique,
    kind smallint not null,
    state smallint not null,
    owner text not null,
    output_dataset text not null unique,   -- one dataset belongs to one production
    spec jsonb not null,
    jobs integer not null,
    created timestamptz not null default now()
);

-- One row per job. state/failure_class are the JobState/FailureClass enums.
create table job (
    production_id bigint not null references production (id),
    idx integer not null,
    state smallint not null,
    site text not null,
    seed bigint not null,
    first_event bigint not null,
    events integer not null,
    inputs text[],
    attempts smallint not null default 0,
    submission_id bigint,
    task integer,
    failure_class smallint,
    failure text,
    updated timestamptz not null default now(),
    primary key (production_id, idx)
);
-- Status counts (index-only) and the submitter's "next planned jobs at this site".
create index job_state_site on job (production_id, state, site) include (failure_class);

-- A reservation of up to one Slurm array's jobs, made before sbatch is called: the array's job
-- name carries its id, so after a crash the service finds in Slurm whether it was submitted.
create table submission (
    id bigserial primary key,
    production_id bigint not null references production (id),
    site text not null,
    state smallint not null,               -- 0 reserved, 1 submitted
    slurm_job_id bigint,
    jobs integer not null,
    created timestamptz not null default now()
);
create index submission_reserved on submission (state) where state = 0;

-- What a job uploaded, reported before it registers: if the job cannot register (the catalog is
-- down past its retries), the service registers this itself with the same idempotency key.
create table output (
    production_id bigint not null,
    idx integer not null,
    name text not null,
    size bigint not null,
    adler32 text not null,
    se text not null,
    pfn text not null,
    lfn text,
    primary key (production_id, idx)
);

create table setting (
    name text primary key,
    value text not null
);
