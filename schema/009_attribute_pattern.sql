-- 009: a string attribute may carry a pattern (a regular expression every value must match in
-- full), and an allowed-value list may grow (POST /api/v1/schema/allowed): neither rewrites a row.
alter table attribute_def add column pattern text;
