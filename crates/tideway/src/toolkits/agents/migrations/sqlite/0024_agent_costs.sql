-- What a run's model turns cost in US dollars, summed over the turns whose cost
-- was known. Kept in step with ../postgres/0024_agent_costs.sql.
ALTER TABLE agent_runs ADD COLUMN cost_usd REAL;
