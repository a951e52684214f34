-- Prompt templates, per tenant, with every version kept. Kept in step with
-- ../postgres/0007_prompts.sql. `tags` and `arguments` are JSON arrays; `body` is a
-- minijinja template. The current version is in prompt_templates and also, like every
-- earlier one, in prompt_template_versions.
CREATE TABLE prompt_templates (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    title       TEXT,
    description TEXT,
    category    TEXT NOT NULL,
    tags        TEXT NOT NULL,
    arguments   TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE INDEX prompt_templates_by_category ON prompt_templates (tenant_id, category, name);

CREATE TABLE prompt_template_versions (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    title       TEXT,
    description TEXT,
    category    TEXT NOT NULL,
    tags        TEXT NOT NULL,
    arguments   TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);

-- One row per render: which template and version, a digest of the arguments, who, when.
CREATE TABLE prompt_usage (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    name             TEXT NOT NULL,
    version          BIGINT NOT NULL,
    arguments_sha256 TEXT NOT NULL,
    principal        TEXT NOT NULL,
    face             TEXT NOT NULL,
    used_at          TEXT NOT NULL
);
CREATE INDEX prompt_usage_by_template ON prompt_usage (tenant_id, name, used_at);

-- Argument values seen in renders, offered by completion/complete.
CREATE TABLE prompt_argument_values (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL,
    argument     TEXT NOT NULL,
    value        TEXT NOT NULL,
    uses         BIGINT NOT NULL,
    last_used_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name, argument, value)
);

-- Tenants the built-in library has been loaded for, so deleting a built-in template
-- is not undone by the next start.
CREATE TABLE prompt_library_loads (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    loaded_at TEXT NOT NULL
);
