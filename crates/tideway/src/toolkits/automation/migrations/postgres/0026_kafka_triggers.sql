-- Event triggers on Kafka topics. Kept in step with ../sqlite/0026_kafka_triggers.sql.
-- `source` names the topic (and cluster) a `kafka_message` trigger reads, as JSON;
-- it is empty for triggers on the support desk.
ALTER TABLE automation_event_triggers ADD COLUMN source TEXT;
