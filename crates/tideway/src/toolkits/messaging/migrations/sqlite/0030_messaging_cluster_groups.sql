-- The consumer groups a cluster lets its tenant use: a JSON array of name patterns
-- (empty: no restriction), like `topics`. Clusters stored before keep every group.
-- Kept in step with ../postgres/0030_messaging_cluster_groups.sql.
ALTER TABLE messaging_clusters ADD COLUMN consumer_groups TEXT NOT NULL DEFAULT '[]';
