-- A key made by another key keeps its maker's rules (and theirs, in a chain), so it can
-- never call more than its maker could. Kept in step with ../sqlite/0010_key_delegation.sql.
ALTER TABLE api_keys ADD COLUMN inherited_rules JSONB NOT NULL DEFAULT '[]';
