-- The support toolkit: customers, tickets with their history and comments,
-- interactions, and knowledge articles with a full-text index. Kept in step with
-- ../postgres/0002_support.sql (same tables, columns and indexes).

CREATE TABLE support_customers (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    first_name          TEXT NOT NULL,
    last_name           TEXT NOT NULL,
    email               TEXT NOT NULL,
    phone               TEXT,
    company             TEXT,
    tier                TEXT NOT NULL,
    metadata            TEXT NOT NULL DEFAULT '{}',
    ticket_count        INTEGER NOT NULL DEFAULT 0,
    last_interaction_at TEXT,
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX support_customers_email ON support_customers (tenant_id, email);
CREATE INDEX support_customers_tier ON support_customers (tenant_id, tier, id);

CREATE TABLE support_tickets (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    customer_id       INTEGER NOT NULL REFERENCES support_customers (id),
    subject           TEXT NOT NULL,
    description       TEXT NOT NULL,
    status            TEXT NOT NULL,
    priority          TEXT NOT NULL,
    category          TEXT,
    tags              TEXT NOT NULL DEFAULT '[]',
    assignee          TEXT,
    channel           TEXT NOT NULL,
    sla_due_at        TEXT NOT NULL,
    first_response_at TEXT,
    resolved_at       TEXT,
    closed_at         TEXT,
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX support_tickets_status ON support_tickets (tenant_id, status, id);
CREATE INDEX support_tickets_customer ON support_tickets (tenant_id, customer_id, id);
CREATE INDEX support_tickets_created ON support_tickets (tenant_id, created_at);

-- The ticket's history: one row per change (with the ticket version it produced)
-- and per comment.
CREATE TABLE support_ticket_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    ticket_id   INTEGER NOT NULL REFERENCES support_tickets (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    changes     TEXT NOT NULL DEFAULT '{}',
    body        TEXT,
    author_type TEXT,
    internal    BOOLEAN NOT NULL DEFAULT FALSE,
    version     INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX support_ticket_events_ticket ON support_ticket_events (ticket_id, id);

CREATE TABLE support_interactions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    customer_id INTEGER NOT NULL REFERENCES support_customers (id),
    ticket_id   INTEGER REFERENCES support_tickets (id),
    channel     TEXT NOT NULL,
    direction   TEXT NOT NULL,
    content     TEXT NOT NULL,
    agent       TEXT,
    occurred_at TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX support_interactions_customer ON support_interactions (tenant_id, customer_id, occurred_at);
CREATE INDEX support_interactions_ticket ON support_interactions (tenant_id, ticket_id, occurred_at);

CREATE TABLE support_articles (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    title             TEXT NOT NULL,
    body              TEXT NOT NULL,
    category          TEXT,
    tags              TEXT NOT NULL DEFAULT '[]',
    published         BOOLEAN NOT NULL DEFAULT TRUE,
    view_count        INTEGER NOT NULL DEFAULT 0,
    helpful_count     INTEGER NOT NULL DEFAULT 0,
    not_helpful_count INTEGER NOT NULL DEFAULT 0,
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX support_articles_tenant ON support_articles (tenant_id, id);

-- Full-text index over articles (external content: the text lives once, in
-- support_articles; triggers keep the index in step).
CREATE VIRTUAL TABLE support_articles_fts USING fts5 (
    title, body, tags,
    content = 'support_articles', content_rowid = 'id',
    tokenize = 'porter unicode61'
);
-- Ranking: bm25 with the title weighing most, then tags, then the body.
INSERT INTO support_articles_fts (support_articles_fts, rank) VALUES ('rank', 'bm25(10.0, 1.0, 4.0)');
CREATE TRIGGER support_articles_fts_insert AFTER INSERT ON support_articles BEGIN
    INSERT INTO support_articles_fts (rowid, title, body, tags)
    VALUES (new.id, new.title, new.body, new.tags);
END;
CREATE TRIGGER support_articles_fts_delete AFTER DELETE ON support_articles BEGIN
    INSERT INTO support_articles_fts (support_articles_fts, rowid, title, body, tags)
    VALUES ('delete', old.id, old.title, old.body, old.tags);
END;
CREATE TRIGGER support_articles_fts_update AFTER UPDATE OF title, body, tags ON support_articles BEGIN
    INSERT INTO support_articles_fts (support_articles_fts, rowid, title, body, tags)
    VALUES ('delete', old.id, old.title, old.body, old.tags);
    INSERT INTO support_articles_fts (rowid, title, body, tags)
    VALUES (new.id, new.title, new.body, new.tags);
END;
