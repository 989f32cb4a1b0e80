-- 003: a lock row no longer carries foreign keys. Each checked its file and its rule for every row
-- written: two index probes and a row lock per lock, seven of the seventeen seconds that writing a
-- million files with their locks took in plain SQL. Nothing relied on their cascades: file rows are
-- never deleted, and a rule's locks are deleted before the rule, in one transaction under the
-- locks lock. Rule evaluation checks under that same lock that its rule still exists before it
-- writes a batch, which is what the rule key guarded against.
alter table lock drop constraint lock_file_id_fkey;
alter table lock drop constraint lock_rule_id_fkey;
