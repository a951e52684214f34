//! The knowledge base: articles in Markdown and ranked full-text search over them.
//! SQLite searches an FTS5 index ranked by bm25; PostgreSQL a weighted tsvector
//! ranked by ts_rank. Both weigh the title most, then tags, then the body, and both
//! return a snippet with the matched words in [brackets].

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, types::Json};
use tideway_core::{CallContext, HubError, Store, on_store};

use super::{
    customers::{busy, stale},
    model::{
        Article, ArticleChanges, ArticleHit, NewArticle, Page, SearchResults, limits,
        normalize_tags, optional_text, required_text,
    },
    service::{SupportService, WRITE_ATTEMPTS, convert_all, decode_cursor, into_page, now, tenant},
};

pub fn article_uri(id: i64) -> String {
    format!("db://knowledge_articles/{id}")
}

const ARTICLE_COLUMNS: &str = "id, title, body, category, tags, published, view_count, helpful_count, not_helpful_count, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ArticleRow {
    id: i64,
    title: String,
    body: String,
    category: Option<String>,
    tags: Json<Vec<String>>,
    published: bool,
    view_count: i64,
    helpful_count: i64,
    not_helpful_count: i64,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ArticleRow {
    fn into_article(self) -> Article {
        Article {
            id: self.id,
            title: self.title,
            body: self.body,
            category: self.category,
            tags: self.tags.0,
            published: self.published,
            view_count: self.view_count,
            helpful_count: self.helpful_count,
            not_helpful_count: self.not_helpful_count,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct HitRow {
    id: i64,
    title: String,
    category: Option<String>,
    tags: Json<Vec<String>>,
    snippet: String,
    score: f64,
}

/// The words of a search, lower-cased, without punctuation (which would otherwise be
/// query syntax to FTS5 and to_tsquery), at most 16 of them.
pub fn search_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if !word.is_empty() && !words.contains(&word) {
            words.push(word);
        }
        if words.len() == 16 {
            break;
        }
    }
    words
}

impl SupportService {
    pub async fn create_article(
        &self,
        ctx: &CallContext,
        input: NewArticle,
    ) -> Result<Article, HubError> {
        let title = required_text("title", &input.title, limits::SUBJECT)?;
        let body = required_text("body", &input.body, limits::ARTICLE_BODY)?;
        let category = optional_text("category", input.category.as_deref(), limits::LABEL)?
            .map(|c| c.to_lowercase());
        let tags = normalize_tags(input.tags.as_deref())?;
        let at = now();
        let sql = format!(
            "INSERT INTO support_articles (tenant_id, title, body, category, tags, published, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {ARTICLE_COLUMNS}"
        );
        let row: ArticleRow = on_store!(&self.store, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(&title)
                .bind(&body)
                .bind(&category)
                .bind(Json(&tags))
                .bind(input.published.unwrap_or(true))
                .bind(at)
                .fetch_one(pool)
                .await
        })?;
        Ok(row.into_article())
    }

    pub async fn find_article(
        &self,
        ctx: &CallContext,
        id: i64,
    ) -> Result<Option<Article>, HubError> {
        let row: Option<ArticleRow> = self
            .find_row(ctx, "support_articles", ARTICLE_COLUMNS, id)
            .await?;
        Ok(row.map(ArticleRow::into_article))
    }

    pub async fn get_article(&self, ctx: &CallContext, id: i64) -> Result<Article, HubError> {
        self.find_article(ctx, id).await?.ok_or_else(|| {
            HubError::NotFound(format!("there is no knowledge article with id {id}"))
        })
    }

    /// Reads an article for someone who will read it, counting the view.
    pub async fn view_article(&self, ctx: &CallContext, id: i64) -> Result<Article, HubError> {
        on_store!(&self.store, pool => {
            sqlx::query("UPDATE support_articles SET view_count = view_count + 1 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant(ctx))
                .bind(id)
                .execute(pool)
                .await
                .map(|result| result.rows_affected())
        })?;
        self.get_article(ctx, id).await
    }

    /// Records whether an article helped.
    pub async fn rate_article(
        &self,
        ctx: &CallContext,
        id: i64,
        helpful: bool,
    ) -> Result<Article, HubError> {
        let column = if helpful {
            "helpful_count"
        } else {
            "not_helpful_count"
        };
        let sql = format!(
            "UPDATE support_articles SET {column} = {column} + 1 WHERE tenant_id = $1 AND id = $2 RETURNING {ARTICLE_COLUMNS}"
        );
        let row: Option<ArticleRow> = on_store!(&self.store, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(ArticleRow::into_article).ok_or_else(|| {
            HubError::NotFound(format!("there is no knowledge article with id {id}"))
        })
    }

    pub async fn list_articles(
        &self,
        ctx: &CallContext,
        category: Option<&str>,
        include_drafts: bool,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Article>, HubError> {
        let before = decode_cursor("articles", cursor)?;
        let category = category.map(|c| c.trim().to_lowercase());
        let sql = format!(
            "SELECT {ARTICLE_COLUMNS} FROM support_articles \
             WHERE tenant_id = $1 AND ($2 IS NULL OR category = $2) AND ($3 OR published) \
               AND ($4 IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        );
        let rows: Vec<ArticleRow> = on_store!(&self.store, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(&category)
                .bind(include_drafts)
                .bind(before)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let items = rows.into_iter().map(ArticleRow::into_article).collect();
        Ok(into_page("articles", items, limit, |a| a.id))
    }

    pub async fn update_article(
        &self,
        ctx: &CallContext,
        id: i64,
        changes: ArticleChanges,
    ) -> Result<Article, HubError> {
        let title = changes
            .title
            .as_deref()
            .map(|v| required_text("title", v, limits::SUBJECT))
            .transpose()?;
        let body = changes
            .body
            .as_deref()
            .map(|v| required_text("body", v, limits::ARTICLE_BODY))
            .transpose()?;
        let category = match changes.category.as_deref() {
            Some(value) => Some(
                optional_text("category", Some(value), limits::LABEL)?.map(|c| c.to_lowercase()),
            ),
            None => None,
        };
        let tags = changes
            .tags
            .as_deref()
            .map(|tags| normalize_tags(Some(tags)))
            .transpose()?;
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.get_article(ctx, id).await?;
            if let Some(expected) = changes.expected_version
                && expected != current.version
            {
                return Err(stale("article", id, expected, current.version));
            }
            let next = Article {
                title: title.clone().unwrap_or(current.title.clone()),
                body: body.clone().unwrap_or(current.body.clone()),
                category: category.clone().unwrap_or(current.category.clone()),
                tags: tags.clone().unwrap_or(current.tags.clone()),
                published: changes.published.unwrap_or(current.published),
                ..current.clone()
            };
            if next.title == current.title
                && next.body == current.body
                && next.category == current.category
                && next.tags == current.tags
                && next.published == current.published
            {
                return Ok(current);
            }
            let sql = format!(
                "UPDATE support_articles SET title = $1, body = $2, category = $3, tags = $4, published = $5, \
                 version = version + 1, updated_at = $6 \
                 WHERE tenant_id = $7 AND id = $8 AND version = $9 RETURNING {ARTICLE_COLUMNS}"
            );
            let row: Option<ArticleRow> = on_store!(&self.store, pool => {
                sqlx::query_as(AssertSqlSafe(sql))
                    .bind(&next.title)
                    .bind(&next.body)
                    .bind(&next.category)
                    .bind(Json(&next.tags))
                    .bind(next.published)
                    .bind(now())
                    .bind(tenant(ctx))
                    .bind(id)
                    .bind(current.version)
                    .fetch_optional(pool)
                    .await
            })?;
            match row {
                Some(row) => {
                    self.changed(ctx, article_uri(id));
                    return Ok(row.into_article());
                }
                None if changes.expected_version.is_some() => {
                    let latest = self.get_article(ctx, id).await?;
                    return Err(stale("article", id, current.version, latest.version));
                }
                None => continue,
            }
        }
        Err(busy("article", id))
    }

    /// Ranked search over published articles. Articles with every word come first;
    /// when none has them all, articles with any of the words are returned instead.
    pub async fn search_knowledge(
        &self,
        ctx: &CallContext,
        search_term: &str,
        limit: u32,
    ) -> Result<SearchResults, HubError> {
        if search_term.chars().count() > limits::SEARCH_TERM {
            return Err(HubError::invalid_argument(
                "search_term",
                format!("is longer than {} characters", limits::SEARCH_TERM),
            ));
        }
        let words = search_words(search_term);
        if words.is_empty() {
            return Err(HubError::invalid_argument(
                "search_term",
                "has no words to search for",
            ));
        }
        let mut results = self.search_words(ctx, &words, true, limit).await?;
        let mut matched = "all";
        if results.is_empty() && words.len() > 1 {
            results = self.search_words(ctx, &words, false, limit).await?;
            matched = "any";
        }
        Ok(SearchResults {
            search_term: search_term.to_string(),
            results,
            matched: matched.to_string(),
        })
    }

    pub(super) async fn search_words(
        &self,
        ctx: &CallContext,
        words: &[String],
        all: bool,
        limit: u32,
    ) -> Result<Vec<ArticleHit>, HubError> {
        let rows: Vec<HitRow> = match &self.store {
            Store::Sqlite(pool) => {
                let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
                let query = quoted.join(if all { " " } else { " OR " });
                // FTS first (CROSS JOIN fixes the order): planned the other way round,
                // SQLite walks every article of the tenant and probes the index for
                // each, which takes seconds on 100,000 articles. `rank` is bm25 with
                // the column weights set in the migration.
                sqlx::query_as(
                    "SELECT a.id, a.title, a.category, a.tags, \
                            snippet(support_articles_fts, 1, '[', ']', '…', 24) AS snippet, \
                            -support_articles_fts.rank AS score \
                     FROM support_articles_fts \
                     CROSS JOIN support_articles a ON a.id = support_articles_fts.rowid \
                     WHERE support_articles_fts MATCH $1 AND a.tenant_id = $2 AND a.published \
                     ORDER BY support_articles_fts.rank, a.id \
                     LIMIT $3",
                )
                .bind(query)
                .bind(tenant(ctx))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
            }
            Store::Postgres(pool) => {
                let query = words.join(if all { " & " } else { " | " });
                // Rank and cut first, then build snippets for the few that remain:
                // ts_headline re-parses the body and is the expensive part.
                sqlx::query_as(
                    "WITH q AS (SELECT to_tsquery('english', $1) AS query) \
                     SELECT hits.id, hits.title, hits.category, hits.tags, \
                            ts_headline('english', hits.body, q.query, \
                              'StartSel=[, StopSel=], MaxWords=30, MinWords=12, MaxFragments=1, FragmentDelimiter=\" … \"') AS snippet, \
                            hits.score \
                     FROM (SELECT a.id, a.title, a.category, a.tags, a.body, \
                                  ts_rank(a.search, q.query)::float8 AS score \
                           FROM support_articles a, q \
                           WHERE a.tenant_id = $2 AND a.published AND a.search @@ q.query \
                           ORDER BY score DESC, a.id LIMIT $3) hits, q \
                     ORDER BY hits.score DESC, hits.id",
                )
                .bind(query)
                .bind(tenant(ctx))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
            }
        }?;
        convert_all(rows, |row| {
            Ok(ArticleHit {
                id: row.id,
                title: row.title,
                category: row.category,
                tags: row.tags.0,
                snippet: row.snippet,
                score: row.score,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::search_words;

    #[test]
    fn search_words_drop_query_syntax() {
        assert_eq!(
            search_words("Password RESET: \"now\" OR (vpn)* -x password"),
            vec!["password", "reset", "now", "or", "vpn", "x"]
        );
        assert!(search_words("  ***  ").is_empty());
    }
}
