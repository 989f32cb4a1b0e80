-- Tokens the catalog issued (for listing and revocation by id) and the audit trail of writes.

create table issued_token (
    jti        uuid primary key,
    subject    text not null,
    roles      text[] not null,
    scopes     text[] not null,
    groups     text[] not null,
    issued     timestamptz not null default now(),
    expires    timestamptz not null,
    issued_by  text not null,
    revoked    timestamptz
);
create index issued_token_subject on issued_token (subject);
-- The revocation list every server process polls: only revoked tokens not yet expired.
create index issued_token_revoked on issued_token (revoked) where revoked is not null;

-- One row per item a write touched (a batch of 1,000 files is 1,000 rows), written after the
-- request by a background writer with binary COPY, never inside the request's transaction.
create table audit_event (
    id          bigint generated always as identity primary key,
    at          timestamptz not null,
    subject     text not null,
    token_id    uuid,
    remote      text,
    request_id  text,
    action      text not null,
    path        text collate "C",
    outcome     text not null,
    detail      jsonb
);
-- Path queries are prefix ranges (a directory and everything under it), hence collate "C".
create index audit_event_path on audit_event (path, at);
create index audit_event_subject on audit_event (subject, at);
create index audit_event_at on audit_event using brin (at);
