//! Customers: create, read, list with filters, update under a version check.

use serde_json::Map;
use sqlx::{AssertSqlSafe, types::Json};
use tideway_core::{CallContext, HubError, on_store};

use tideway_core::store::is_unique_violation;

use super::{
    model::{
        Customer, CustomerChanges, CustomerFilter, NewCustomer, Page, Tier, check_metadata, limits,
        normalize_email, normalize_phone, optional_text, required_text,
    },
    service::{
        CUSTOMER_COLUMNS, CustomerRow, SupportService, WRITE_ATTEMPTS, convert_all, decode_cursor,
        into_page, like_pattern, no_customer, now, tenant,
    },
};

fn email_taken(email: &str) -> HubError {
    HubError::Conflict(format!(
        "a customer with email {email} already exists; look it up with get_customers instead"
    ))
}

pub fn customer_uri(id: i64) -> String {
    format!("db://customers/{id}")
}

impl SupportService {
    pub async fn create_customer(
        &self,
        ctx: &CallContext,
        input: NewCustomer,
    ) -> Result<Customer, HubError> {
        let first_name = required_text("first_name", &input.first_name, limits::NAME)?;
        let last_name = required_text("last_name", &input.last_name, limits::NAME)?;
        let email = normalize_email(&input.email)?;
        let phone = normalize_phone(input.phone.as_deref())?;
        let company = optional_text("company", input.company.as_deref(), limits::COMPANY)?;
        let tier = input.tier.unwrap_or(Tier::Standard);
        let metadata = input.metadata.unwrap_or_default();
        check_metadata(&metadata)?;
        let at = now();
        let sql = format!(
            "INSERT INTO support_customers (tenant_id, first_name, last_name, email, phone, company, tier, metadata, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {CUSTOMER_COLUMNS}"
        );
        let inserted: Result<CustomerRow, sqlx::Error> = on_store!(&self.store, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(&first_name)
                .bind(&last_name)
                .bind(&email)
                .bind(&phone)
                .bind(&company)
                .bind(tier.as_str())
                .bind(Json(&metadata))
                .bind(at)
                .fetch_one(pool)
                .await
        });
        match inserted {
            Ok(row) => row.into_customer(),
            Err(error) if is_unique_violation(&error) => Err(email_taken(&email)),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn find_customer(
        &self,
        ctx: &CallContext,
        id: i64,
    ) -> Result<Option<Customer>, HubError> {
        let row: Option<CustomerRow> = self
            .find_row(ctx, "support_customers", CUSTOMER_COLUMNS, id)
            .await?;
        row.map(CustomerRow::into_customer).transpose()
    }

    pub async fn get_customer(&self, ctx: &CallContext, id: i64) -> Result<Customer, HubError> {
        self.find_customer(ctx, id)
            .await?
            .ok_or_else(|| no_customer(id))
    }

    pub async fn list_customers(
        &self,
        ctx: &CallContext,
        filter: &CustomerFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Customer>, HubError> {
        let before = decode_cursor("customers", cursor)?;
        let search = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(like_pattern);
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS} FROM support_customers \
             WHERE tenant_id = $1 \
               AND ($2 IS NULL OR tier = $2) \
               AND ($3 IS NULL OR lower(first_name || ' ' || last_name) LIKE $3 ESCAPE '\\' \
                    OR email LIKE $3 ESCAPE '\\' OR lower(coalesce(company, '')) LIKE $3 ESCAPE '\\') \
               AND ($4 IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        );
        let rows: Vec<CustomerRow> = on_store!(&self.store, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(filter.tier.map(Tier::as_str))
                .bind(&search)
                .bind(before)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let customers = convert_all(rows, CustomerRow::into_customer)?;
        Ok(into_page("customers", customers, limit, |c| c.id))
    }

    pub async fn update_customer(
        &self,
        ctx: &CallContext,
        id: i64,
        changes: CustomerChanges,
    ) -> Result<Customer, HubError> {
        // Validate everything before touching the store, so a bad field writes nothing.
        let first_name = changes
            .first_name
            .as_deref()
            .map(|v| required_text("first_name", v, limits::NAME))
            .transpose()?;
        let last_name = changes
            .last_name
            .as_deref()
            .map(|v| required_text("last_name", v, limits::NAME))
            .transpose()?;
        let email = changes.email.as_deref().map(normalize_email).transpose()?;
        let phone = match changes.phone.as_deref() {
            Some(value) => Some(normalize_phone(Some(value))?),
            None => None,
        };
        let company = match changes.company.as_deref() {
            Some(value) => Some(optional_text("company", Some(value), limits::COMPANY)?),
            None => None,
        };
        if let Some(metadata) = &changes.metadata {
            check_metadata(metadata)?;
        }
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.get_customer(ctx, id).await?;
            if let Some(expected) = changes.expected_version
                && expected != current.version
            {
                return Err(stale("customer", id, expected, current.version));
            }
            let next = Customer {
                first_name: first_name.clone().unwrap_or(current.first_name.clone()),
                last_name: last_name.clone().unwrap_or(current.last_name.clone()),
                email: email.clone().unwrap_or(current.email.clone()),
                phone: phone.clone().unwrap_or(current.phone.clone()),
                company: company.clone().unwrap_or(current.company.clone()),
                tier: changes.tier.unwrap_or(current.tier),
                metadata: changes
                    .metadata
                    .clone()
                    .unwrap_or_else(|| current.metadata.clone()),
                ..current.clone()
            };
            let unchanged = next.first_name == current.first_name
                && next.last_name == current.last_name
                && next.email == current.email
                && next.phone == current.phone
                && next.company == current.company
                && next.tier == current.tier
                && next.metadata == current.metadata;
            if unchanged {
                return Ok(current);
            }
            let sql = format!(
                "UPDATE support_customers SET first_name = $1, last_name = $2, email = $3, phone = $4, \
                 company = $5, tier = $6, metadata = $7, version = version + 1, updated_at = $8 \
                 WHERE tenant_id = $9 AND id = $10 AND version = $11 RETURNING {CUSTOMER_COLUMNS}"
            );
            let metadata: &Map<_, _> = &next.metadata;
            let updated: Result<Option<CustomerRow>, sqlx::Error> = on_store!(&self.store, pool => {
                sqlx::query_as(AssertSqlSafe(sql))
                    .bind(&next.first_name)
                    .bind(&next.last_name)
                    .bind(&next.email)
                    .bind(&next.phone)
                    .bind(&next.company)
                    .bind(next.tier.as_str())
                    .bind(Json(metadata))
                    .bind(now())
                    .bind(tenant(ctx))
                    .bind(id)
                    .bind(current.version)
                    .fetch_optional(pool)
                    .await
            });
            match updated {
                Ok(Some(row)) => {
                    self.changed(ctx, customer_uri(id));
                    return row.into_customer();
                }
                // Someone else changed it between our read and our write.
                Ok(None) if changes.expected_version.is_some() => {
                    let latest = self.get_customer(ctx, id).await?;
                    return Err(stale("customer", id, current.version, latest.version));
                }
                Ok(None) => continue,
                Err(error) if is_unique_violation(&error) => {
                    return Err(email_taken(&next.email));
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(busy("customer", id))
    }
}

pub(super) fn stale(kind: &str, id: i64, expected: i64, actual: i64) -> HubError {
    HubError::Conflict(format!(
        "{kind} {id} was changed by someone else: you expected version {expected}, it is now at version {actual}; \
         read it again, then retry your change with expected_version {actual}"
    ))
}

pub(super) fn busy(kind: &str, id: i64) -> HubError {
    HubError::Conflict(format!(
        "{kind} {id} is being changed by many callers at once; try again"
    ))
}
