//! The catalog of a source: its tables and views (paged, filtered, with the
//! planner's row estimates), one table's full description (columns, keys, indexes,
//! comments), and a compact overview sized for a model's context. Each database
//! answers from its own catalog (`pg_catalog`, `information_schema`, SQLite's
//! pragmas) through the same read-only path as queries, with bound parameters.

use base64::Engine;
use serde_json::{Value, json};
use tideway_core::{CallContext, HubError};

use super::{
    model::{
        ColumnInfo, ForeignKey, IndexInfo, SchemaOverview, SourceKind, TableDescription, TableInfo,
        TablePage,
    },
    service::{DatabaseService, Source},
};

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn optional_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        other => Some(text(other)),
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().map(text).collect(),
        Value::String(joined) if !joined.is_empty() => joined
            .split(',')
            .map(|part| part.trim().to_string())
            .collect(),
        _ => Vec::new(),
    }
}

fn table_kind(code: &str) -> &'static str {
    match code {
        "r" | "BASE TABLE" | "table" => "table",
        "v" | "VIEW" | "view" | "SYSTEM VIEW" => "view",
        "m" => "materialized-view",
        "f" => "foreign-table",
        "p" => "partitioned-table",
        _ => "table",
    }
}

/// An opaque page cursor: the last (schema, table) of the page.
fn encode_cursor(schema: &str, table: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!([schema, table]).to_string())
}

fn decode_cursor(cursor: &str) -> Result<(String, String), HubError> {
    let invalid = || HubError::invalid_argument("cursor", "not a cursor this tool returned");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let pair: (String, String) = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    Ok(pair)
}

/// Splits `schema.table`; a bare name gets the source's default schema.
fn split_table(source: &Source, table: &str, schema: Option<&str>) -> (Option<String>, String) {
    if let Some(schema) = schema.filter(|schema| !schema.is_empty()) {
        return (Some(schema.to_string()), table.to_string());
    }
    match table.split_once('.') {
        Some((schema, name)) if source.kind != SourceKind::Sqlite || schema == "main" => {
            (Some(schema.to_string()), name.to_string())
        }
        _ => (None, table.to_string()),
    }
}

pub struct TableQuery<'a> {
    pub schema: Option<&'a str>,
    pub filter: Option<&'a str>,
    pub limit: usize,
    pub cursor: Option<&'a str>,
}

impl DatabaseService {
    pub async fn list_tables(
        &self,
        ctx: &CallContext,
        source: &Source,
        query: TableQuery<'_>,
    ) -> Result<TablePage, HubError> {
        let (after_schema, after_table) = match query.cursor {
            Some(cursor) => decode_cursor(cursor)?,
            None => (String::new(), String::new()),
        };
        let pattern = query
            .filter
            .filter(|filter| !filter.is_empty())
            .map(|filter| {
                format!(
                    "%{}%",
                    filter
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                )
            });
        let schema = query
            .schema
            .filter(|schema| !schema.is_empty())
            .map(str::to_string);
        let fetch = (query.limit + 1) as i64;
        let (sql, params): (&str, Vec<Value>) = match source.kind {
            SourceKind::Postgres => (
                "SELECT n.nspname, c.relname, c.relkind::text, c.reltuples::bigint, \
                 obj_description(c.oid, 'pg_class') \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
                 AND ($1::text IS NULL OR n.nspname = $1) \
                 AND ($2::text IS NULL OR c.relname ILIKE $2) \
                 AND (n.nspname, c.relname) > ($3::text, $4::text) \
                 ORDER BY n.nspname, c.relname LIMIT $5",
                vec![
                    json!(schema),
                    json!(pattern),
                    json!(after_schema),
                    json!(after_table),
                    json!(fetch),
                ],
            ),
            SourceKind::Mysql => (
                "SELECT table_schema, table_name, table_type, table_rows, table_comment \
                 FROM information_schema.tables \
                 WHERE table_schema = COALESCE(?, DATABASE()) \
                 AND (? IS NULL OR table_name LIKE ?) \
                 AND (table_schema, table_name) > (?, ?) \
                 ORDER BY table_schema, table_name LIMIT ?",
                vec![
                    json!(schema),
                    json!(pattern),
                    json!(pattern),
                    json!(after_schema),
                    json!(after_table),
                    json!(fetch),
                ],
            ),
            SourceKind::Sqlite => (
                "SELECT 'main', name, type, NULL, NULL FROM sqlite_master \
                 WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 AND ($1 IS NULL OR name LIKE $1 ESCAPE '\\') AND name > $2 \
                 ORDER BY name LIMIT $3",
                vec![json!(pattern), json!(after_table), json!(fetch)],
            ),
        };
        let rows = self.catalog_rows(ctx, source, sql, &params).await?;
        let mut tables: Vec<TableInfo> = rows
            .iter()
            .map(|row| TableInfo {
                schema: text(&row[0]),
                name: text(&row[1]),
                kind: table_kind(&text(&row[2])).to_string(),
                estimated_rows: integer(&row[3]).filter(|rows| *rows >= 0),
                comment: optional_text(&row[4]),
            })
            .collect();
        let next_cursor = if tables.len() > query.limit {
            tables.truncate(query.limit);
            tables
                .last()
                .map(|last| encode_cursor(&last.schema, &last.name))
        } else {
            None
        };
        Ok(TablePage {
            source: source.name.clone(),
            tables,
            next_cursor,
        })
    }

    pub async fn describe_table(
        &self,
        ctx: &CallContext,
        source: &Source,
        table: &str,
        schema: Option<&str>,
    ) -> Result<TableDescription, HubError> {
        let (schema, name) = split_table(source, table, schema);
        let description = match source.kind {
            SourceKind::Postgres => {
                self.describe_postgres(ctx, source, schema.as_deref().unwrap_or("public"), &name)
                    .await?
            }
            SourceKind::Mysql => {
                self.describe_mysql(ctx, source, schema.as_deref(), &name)
                    .await?
            }
            SourceKind::Sqlite => self.describe_sqlite(ctx, source, &name).await?,
        };
        description.ok_or_else(|| {
            HubError::NotFound(format!(
                "no table or view '{table}' in source '{}'; list_source_tables shows what there is",
                source.name
            ))
        })
    }

    async fn describe_postgres(
        &self,
        ctx: &CallContext,
        source: &Source,
        schema: &str,
        name: &str,
    ) -> Result<Option<TableDescription>, HubError> {
        let key = [json!(schema), json!(name)];
        let head = self
            .catalog_rows(
                ctx,
                source,
                "SELECT c.relkind::text, c.reltuples::bigint, obj_description(c.oid, 'pg_class') \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'v', 'm', 'f', 'p')",
                &key,
            )
            .await?;
        let Some(head) = head.first() else {
            return Ok(None);
        };
        let columns = self
            .catalog_rows(
                ctx,
                source,
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
                 pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum) \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &key,
            )
            .await?;
        let constraints = self
            .catalog_rows(
                ctx,
                source,
                "SELECT con.conname::text, con.contype::text, \
                 ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, pos) \
                       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.pos), \
                 fn.nspname::text, fc.relname::text, \
                 ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, pos) \
                       JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.pos) \
                 FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_class fc ON fc.oid = con.confrelid \
                 LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND con.contype IN ('p', 'f') \
                 ORDER BY con.conname",
                &key,
            )
            .await?;
        let indexes = self
            .catalog_rows(
                ctx,
                source,
                "SELECT i.relname::text, ix.indisunique, ix.indisprimary, \
                 ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k.pos + 1, true) \
                       FROM generate_subscripts(ix.indkey, 1) k(pos) ORDER BY k.pos) \
                 FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
                 JOIN pg_class c ON c.oid = ix.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 ORDER BY i.relname",
                &key,
            )
            .await?;
        let mut primary_key = Vec::new();
        let mut foreign_keys = Vec::new();
        for row in &constraints {
            if text(&row[1]) == "p" {
                primary_key = strings(&row[2]);
            } else {
                foreign_keys.push(ForeignKey {
                    name: text(&row[0]),
                    columns: strings(&row[2]),
                    references_schema: text(&row[3]),
                    references_table: text(&row[4]),
                    references_columns: strings(&row[5]),
                });
            }
        }
        Ok(Some(TableDescription {
            source: source.name.clone(),
            schema: schema.to_string(),
            name: name.to_string(),
            kind: table_kind(&text(&head[0])).to_string(),
            estimated_rows: integer(&head[1]).filter(|rows| *rows >= 0),
            comment: optional_text(&head[2]),
            columns: columns
                .iter()
                .map(|row| ColumnInfo {
                    name: text(&row[0]),
                    type_name: text(&row[1]),
                    nullable: row[2] == Value::Bool(true),
                    default: optional_text(&row[3]),
                    comment: optional_text(&row[4]),
                })
                .collect(),
            primary_key,
            foreign_keys,
            indexes: indexes
                .iter()
                .map(|row| IndexInfo {
                    name: text(&row[0]),
                    unique: row[1] == Value::Bool(true),
                    primary: row[2] == Value::Bool(true),
                    columns: strings(&row[3]),
                })
                .collect(),
        }))
    }

    async fn describe_mysql(
        &self,
        ctx: &CallContext,
        source: &Source,
        schema: Option<&str>,
        name: &str,
    ) -> Result<Option<TableDescription>, HubError> {
        let key = [json!(schema), json!(name)];
        let head = self
            .catalog_rows(
                ctx,
                source,
                "SELECT table_schema, table_type, table_rows, table_comment FROM information_schema.tables \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
                &key,
            )
            .await?;
        let Some(head) = head.first() else {
            return Ok(None);
        };
        let columns = self
            .catalog_rows(
                ctx,
                source,
                "SELECT column_name, column_type, is_nullable = 'YES', column_default, column_comment, column_key \
                 FROM information_schema.columns WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
                 ORDER BY ordinal_position",
                &key,
            )
            .await?;
        let keys = self
            .catalog_rows(
                ctx,
                source,
                "SELECT constraint_name, column_name, referenced_table_schema, referenced_table_name, referenced_column_name \
                 FROM information_schema.key_column_usage WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
                 ORDER BY constraint_name, ordinal_position",
                &key,
            )
            .await?;
        let index_rows = self
            .catalog_rows(
                ctx,
                source,
                "SELECT index_name, non_unique = 0, column_name FROM information_schema.statistics \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? ORDER BY index_name, seq_in_index",
                &key,
            )
            .await?;
        let mut primary_key = Vec::new();
        let mut foreign_keys: Vec<ForeignKey> = Vec::new();
        for row in &keys {
            let constraint = text(&row[0]);
            if constraint == "PRIMARY" {
                primary_key.push(text(&row[1]));
            } else if row[3] != Value::Null {
                match foreign_keys.iter_mut().find(|key| key.name == constraint) {
                    Some(key) => {
                        key.columns.push(text(&row[1]));
                        key.references_columns.push(text(&row[4]));
                    }
                    None => foreign_keys.push(ForeignKey {
                        name: constraint,
                        columns: vec![text(&row[1])],
                        references_schema: text(&row[2]),
                        references_table: text(&row[3]),
                        references_columns: vec![text(&row[4])],
                    }),
                }
            }
        }
        let mut indexes: Vec<IndexInfo> = Vec::new();
        for row in &index_rows {
            let index_name = text(&row[0]);
            match indexes.iter_mut().find(|index| index.name == index_name) {
                Some(index) => index.columns.push(text(&row[2])),
                None => indexes.push(IndexInfo {
                    primary: index_name == "PRIMARY",
                    name: index_name,
                    unique: row[1] == json!(1) || row[1] == Value::Bool(true),
                    columns: vec![text(&row[2])],
                }),
            }
        }
        Ok(Some(TableDescription {
            source: source.name.clone(),
            schema: text(&head[0]),
            name: name.to_string(),
            kind: table_kind(&text(&head[1])).to_string(),
            estimated_rows: integer(&head[2]),
            comment: optional_text(&head[3]),
            columns: columns
                .iter()
                .map(|row| ColumnInfo {
                    name: text(&row[0]),
                    type_name: text(&row[1]),
                    nullable: row[2] == json!(1) || row[2] == Value::Bool(true),
                    default: optional_text(&row[3]),
                    comment: optional_text(&row[4]),
                })
                .collect(),
            primary_key,
            foreign_keys,
            indexes,
        }))
    }

    async fn describe_sqlite(
        &self,
        ctx: &CallContext,
        source: &Source,
        name: &str,
    ) -> Result<Option<TableDescription>, HubError> {
        let key = [json!(name)];
        let head = self
            .catalog_rows(
                ctx,
                source,
                "SELECT type FROM sqlite_master WHERE type IN ('table', 'view') AND name = $1",
                &key,
            )
            .await?;
        let Some(head) = head.first() else {
            return Ok(None);
        };
        let columns = self
            .catalog_rows(
                ctx,
                source,
                "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info($1) ORDER BY cid",
                &key,
            )
            .await?;
        let keys = self
            .catalog_rows(
                ctx,
                source,
                "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list($1) ORDER BY id, seq",
                &key,
            )
            .await?;
        let index_rows = self
            .catalog_rows(
                ctx,
                source,
                "SELECT l.name, l.\"unique\", l.origin = 'pk', i.name FROM pragma_index_list($1) l \
                 JOIN pragma_index_info(l.name) i ORDER BY l.name, i.seqno",
                &key,
            )
            .await?;
        let mut primary: Vec<(i64, String)> = columns
            .iter()
            .filter_map(|row| {
                integer(&row[4])
                    .filter(|position| *position > 0)
                    .map(|position| (position, text(&row[0])))
            })
            .collect();
        primary.sort();
        let mut foreign_keys: Vec<ForeignKey> = Vec::new();
        for row in &keys {
            let id = format!("fk_{}", text(&row[0]));
            match foreign_keys.iter_mut().find(|key| key.name == id) {
                Some(key) => {
                    key.columns.push(text(&row[2]));
                    key.references_columns.push(text(&row[3]));
                }
                None => foreign_keys.push(ForeignKey {
                    name: id,
                    columns: vec![text(&row[2])],
                    references_schema: "main".into(),
                    references_table: text(&row[1]),
                    references_columns: vec![text(&row[3])],
                }),
            }
        }
        let mut indexes: Vec<IndexInfo> = Vec::new();
        for row in &index_rows {
            let index_name = text(&row[0]);
            match indexes.iter_mut().find(|index| index.name == index_name) {
                Some(index) => index.columns.push(text(&row[3])),
                None => indexes.push(IndexInfo {
                    name: index_name,
                    unique: integer(&row[1]) == Some(1),
                    primary: integer(&row[2]) == Some(1),
                    columns: vec![text(&row[3])],
                }),
            }
        }
        Ok(Some(TableDescription {
            source: source.name.clone(),
            schema: "main".into(),
            name: name.to_string(),
            kind: table_kind(&text(&head[0])).to_string(),
            estimated_rows: None,
            comment: None,
            columns: columns
                .iter()
                .map(|row| ColumnInfo {
                    name: text(&row[0]),
                    type_name: text(&row[1]),
                    nullable: integer(&row[2]) != Some(1) && integer(&row[4]).unwrap_or(0) == 0,
                    default: optional_text(&row[3]),
                    comment: None,
                })
                .collect(),
            primary_key: primary.into_iter().map(|(_, name)| name).collect(),
            foreign_keys,
            indexes,
        }))
    }

    /// One line per table (`schema.table (~rows): column type, …`), stopping at
    /// `max_chars` so the overview fits a model's context.
    pub async fn overview(
        &self,
        ctx: &CallContext,
        source: &Source,
        max_chars: usize,
    ) -> Result<SchemaOverview, HubError> {
        let sql = match source.kind {
            SourceKind::Postgres => {
                "SELECT n.nspname::text, c.relname::text, c.reltuples::bigint, \
                 string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
                 GROUP BY 1, 2, 3 ORDER BY 1, 2"
            }
            SourceKind::Mysql => {
                "SELECT c.table_schema, c.table_name, MAX(t.table_rows), \
                 GROUP_CONCAT(CONCAT(c.column_name, ' ', c.column_type) ORDER BY c.ordinal_position SEPARATOR ', ') \
                 FROM information_schema.columns c JOIN information_schema.tables t \
                 ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE c.table_schema = DATABASE() GROUP BY c.table_schema, c.table_name \
                 ORDER BY c.table_schema, c.table_name"
            }
            SourceKind::Sqlite => {
                "SELECT 'main', m.name, NULL, group_concat(p.name || ' ' || p.type, ', ') \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 GROUP BY m.name ORDER BY m.name"
            }
        };
        let rows = self.catalog_rows(ctx, source, sql, &[]).await?;
        let mut lines = Vec::new();
        let mut used = 0;
        let mut truncated = false;
        for row in &rows {
            let estimate = integer(&row[2])
                .filter(|rows| *rows >= 0)
                .map(|rows| format!(" (~{rows} rows)"))
                .unwrap_or_default();
            let line = format!(
                "{}.{}{estimate}: {}",
                text(&row[0]),
                text(&row[1]),
                text(&row[3])
            );
            if used + line.len() > max_chars {
                truncated = true;
                break;
            }
            used += line.len() + 1;
            lines.push(line);
        }
        Ok(SchemaOverview {
            source: source.name.clone(),
            kind: source.kind,
            table_count: rows.len(),
            tables: lines,
            truncated,
        })
    }
}
