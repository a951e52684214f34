-- What generations cost. Kept in step with ../sqlite/0023_model_costs.sql.
-- A stored provider may declare its prices (US dollars per million tokens), used
-- when its answers report no cost; each generation keeps the cost it had.
ALTER TABLE model_providers ADD COLUMN input_usd_per_mtok DOUBLE PRECISION;
ALTER TABLE model_providers ADD COLUMN output_usd_per_mtok DOUBLE PRECISION;
ALTER TABLE model_generations ADD COLUMN cost_usd DOUBLE PRECISION;
