//! The support REST API under `/api/v1`: customers, tickets, interactions, the
//! knowledge base and analytics as resources. Each route translates HTTP into a call
//! of the matching support tool through the Hub, so REST gets the same validation,
//! tenant scoping, deadline, metrics and audit as MCP, and the JSON it returns is the
//! tool's structured result. Query parameters become tool arguments by name, so a
//! bad one gets a 422 that names it, as a bad body field does.

use std::sync::Arc;

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::Value;
use tideway_core::mcp::JsonObject;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{
    Analytics, Article, ArticleChanges, Customer, CustomerChanges, CustomerContext, Interaction,
    NewArticle, NewComment, NewCustomer, NewInteraction, NewTicket, Page, SearchResults, Ticket,
    TicketChanges, TicketDetails, TicketEvent,
};
use crate::{
    api::{
        problem::{ApiJson, ApiPath, Problem},
        tool_routes::{self, Answer, Calls, Q, body_arguments},
    },
    app::App,
    auth::Caller,
};

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(create_customer, list_customers))
        .routes(routes!(get_customer, update_customer))
        .routes(routes!(customer_context))
        .routes(routes!(create_ticket, list_tickets))
        .routes(routes!(get_ticket, update_ticket))
        .routes(routes!(add_comment))
        .routes(routes!(save_interaction, list_interactions))
        .routes(routes!(create_article, list_articles))
        .routes(routes!(get_article, update_article))
        .routes(routes!(rate_article))
        .routes(routes!(search_knowledge))
        .routes(routes!(analytics))
}

type CallerExt = Caller;

/// Calls a support tool for an HTTP request and turns the outcome into a response.
async fn call(
    calls: &Calls,
    caller: CallerExt,
    headers: &HeaderMap,
    tool: &str,
    arguments: JsonObject,
    answer: Answer,
) -> Response {
    tool_routes::respond(calls, caller, headers, ("support", tool), arguments, answer).await
}

fn query_arguments(
    calls: &Calls,
    tool: &str,
    query: Q,
    rename: &[(&str, &str)],
) -> Result<JsonObject, Box<Problem>> {
    tool_routes::query_arguments(calls, ("support", tool), query, rename)
}

fn id_argument(field: &str, id: i64) -> JsonObject {
    let mut arguments = JsonObject::new();
    arguments.insert(field.into(), Value::from(id));
    arguments
}

/// A POST that creates something from its JSON body.
async fn create(
    calls: &Calls,
    caller: CallerExt,
    headers: &HeaderMap,
    tool: &str,
    body: Value,
    answer: Answer,
) -> Response {
    match body_arguments(body, None, &HeaderMap::new()) {
        Ok(arguments) => call(calls, caller, headers, tool, arguments, answer).await,
        Err(problem) => problem.into_response(),
    }
}

/// A GET of a list, its query parameters becoming the tool's arguments.
async fn list(
    calls: &Calls,
    caller: CallerExt,
    headers: &HeaderMap,
    tool: &str,
    query: Q,
    rename: &[(&str, &str)],
) -> Response {
    let arguments = match query_arguments(calls, tool, query, rename) {
        Ok(arguments) => arguments,
        Err(problem) => return problem.into_response(),
    };
    match tool_routes::call_naming(calls, caller, headers, ("support", tool), arguments, rename)
        .await
    {
        Ok(body) => ApiJson(body).into_response(),
        Err(problem) => problem,
    }
}

/// A GET of one thing by the id in the path.
async fn read_one(
    calls: &Calls,
    caller: CallerExt,
    headers: &HeaderMap,
    tool: &str,
    field: &str,
    id: i64,
) -> Response {
    call(
        calls,
        caller,
        headers,
        tool,
        id_argument(field, id),
        Answer::Ok,
    )
    .await
}

/// A PATCH or POST on one thing: the path id and the body together (and If-Match
/// where `versioned`).
#[allow(clippy::too_many_arguments)]
async fn act_on(
    calls: &Calls,
    caller: CallerExt,
    headers: &HeaderMap,
    tool: &str,
    field: &str,
    id: i64,
    body: Value,
    versioned: bool,
    answer: Answer,
) -> Response {
    let conditions = if versioned {
        headers.clone()
    } else {
        HeaderMap::new()
    };
    match body_arguments(body, Some((field, id)), &conditions) {
        Ok(arguments) => call(calls, caller, headers, tool, arguments, answer).await,
        Err(problem) => problem.into_response(),
    }
}

// --- Customers ----------------------------------------------------------------

/// Creates a customer; Location names it. A conflict with an existing customer is
/// refused with 409.
#[utoipa::path(post, path = "/api/v1/customers", tag = "support",
    request_body = NewCustomer,
    responses((status = 201, body = Customer), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_customer(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    create(
        &calls,
        caller,
        &headers,
        super::tools::names::CREATE_CUSTOMER,
        body,
        Answer::Created(Some("/api/v1/customers")),
    )
    .await
}

/// Lists customers, filtered by tier or words, a page at a time.
#[utoipa::path(get, path = "/api/v1/customers", tag = "support",
    params(("tier" = Option<String>, Query, description = "free, standard, premium or enterprise"),
           ("search" = Option<String>, Query, description = "Words in name, email or company"),
           ("limit" = Option<u32>, Query, description = "Page size, 1 to 100 (default 20)"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = Page<Customer>), (status = 422, body = Problem)))]
async fn list_customers(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    query: Q,
) -> Response {
    list(
        &calls,
        caller,
        &headers,
        super::tools::names::GET_CUSTOMERS,
        query,
        &[],
    )
    .await
}

/// One customer. The ETag header is the version to send back as If-Match.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "support",
    params(("id" = i64, Path)),
    responses((status = 200, body = Customer), (status = 404, body = Problem)))]
async fn get_customer(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
) -> Response {
    read_one(
        &calls,
        caller,
        &headers,
        super::tools::names::GET_CUSTOMER_BY_ID,
        "customer_id",
        id,
    )
    .await
}

/// Changes the fields given; with If-Match, only if nobody changed it since.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "support",
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "The ETag you read; a newer version is refused with 409")),
    request_body = CustomerChanges,
    responses((status = 200, body = Customer), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_customer(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    act_on(
        &calls,
        caller,
        &headers,
        super::tools::names::UPDATE_CUSTOMER,
        "customer_id",
        id,
        body,
        true,
        Answer::Ok,
    )
    .await
}

/// Everything an agent needs about a customer at once: the customer, open and recent
/// tickets, recent interactions and articles that may help.
#[utoipa::path(get, path = "/api/v1/customers/{id}/context", tag = "support",
    params(("id" = i64, Path)),
    responses((status = 200, body = CustomerContext), (status = 404, body = Problem)))]
async fn customer_context(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
) -> Response {
    read_one(
        &calls,
        caller,
        &headers,
        super::tools::names::GET_CUSTOMER_CONTEXT,
        "customer_id",
        id,
    )
    .await
}

// --- Tickets ------------------------------------------------------------------

/// Opens a ticket for a customer; Location names it.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "support",
    request_body = NewTicket,
    responses((status = 201, body = Ticket), (status = 422, body = Problem)))]
async fn create_ticket(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    create(
        &calls,
        caller,
        &headers,
        super::tools::names::CREATE_TICKET,
        body,
        Answer::Created(Some("/api/v1/tickets")),
    )
    .await
}

/// Lists tickets, filtered by status, priority, customer, assignee, category or
/// creation time, a page at a time.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "support",
    params(("status" = Option<String>, Query), ("priority" = Option<String>, Query),
           ("customer_id" = Option<i64>, Query), ("assignee" = Option<String>, Query),
           ("category" = Option<String>, Query),
           ("created_after" = Option<String>, Query, description = "RFC 3339"),
           ("created_before" = Option<String>, Query, description = "RFC 3339"),
           ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<Ticket>), (status = 422, body = Problem)))]
async fn list_tickets(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    query: Q,
) -> Response {
    list(
        &calls,
        caller,
        &headers,
        super::tools::names::GET_TICKETS,
        query,
        &[],
    )
    .await
}

/// The ticket with its customer, history, comments and interactions.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "support",
    params(("id" = i64, Path)),
    responses((status = 200, body = TicketDetails), (status = 404, body = Problem)))]
async fn get_ticket(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        super::tools::names::GET_TICKET_DETAILS,
        id_argument("ticket_id", id),
        Answer::OkVersionedAt("/ticket/version"),
    )
    .await
}

/// Changes a ticket's status, priority, assignee or other fields; every change is
/// kept in its history. With If-Match, only if nobody changed it since.
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "support",
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "The ETag you read; a newer version is refused with 409")),
    request_body = TicketChanges,
    responses((status = 200, body = Ticket), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_ticket(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    act_on(
        &calls,
        caller,
        &headers,
        super::tools::names::UPDATE_TICKET,
        "ticket_id",
        id,
        body,
        true,
        Answer::Ok,
    )
    .await
}

/// Adds a comment to a ticket's history.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/comments", tag = "support",
    params(("id" = i64, Path)),
    request_body = NewComment,
    responses((status = 201, body = TicketEvent), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_comment(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    act_on(
        &calls,
        caller,
        &headers,
        super::tools::names::ADD_TICKET_COMMENT,
        "ticket_id",
        id,
        body,
        false,
        Answer::Created(None),
    )
    .await
}

// --- Interactions -------------------------------------------------------------

/// Records a contact with a customer (a call, an email, a chat).
#[utoipa::path(post, path = "/api/v1/interactions", tag = "support",
    request_body = NewInteraction,
    responses((status = 201, body = Interaction), (status = 422, body = Problem)))]
async fn save_interaction(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    create(
        &calls,
        caller,
        &headers,
        super::tools::names::SAVE_INTERACTION,
        body,
        Answer::Created(None),
    )
    .await
}

/// Lists recorded interactions, newest first.
#[utoipa::path(get, path = "/api/v1/interactions", tag = "support",
    params(("customer_id" = Option<i64>, Query), ("ticket_id" = Option<i64>, Query),
           ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<Interaction>), (status = 422, body = Problem)))]
async fn list_interactions(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    query: Q,
) -> Response {
    list(
        &calls,
        caller,
        &headers,
        super::tools::names::GET_INTERACTIONS,
        query,
        &[],
    )
    .await
}

// --- Knowledge base -----------------------------------------------------------

/// Adds a knowledge base article; Location names it.
#[utoipa::path(post, path = "/api/v1/knowledge/articles", tag = "support",
    request_body = NewArticle,
    responses((status = 201, body = Article), (status = 422, body = Problem)))]
async fn create_article(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    create(
        &calls,
        caller,
        &headers,
        super::tools::names::CREATE_ARTICLE,
        body,
        Answer::Created(Some("/api/v1/knowledge/articles")),
    )
    .await
}

/// Lists knowledge base articles, a page at a time.
#[utoipa::path(get, path = "/api/v1/knowledge/articles", tag = "support",
    params(("category" = Option<String>, Query), ("include_drafts" = Option<bool>, Query),
           ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<Article>), (status = 422, body = Problem)))]
async fn list_articles(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    query: Q,
) -> Response {
    list(
        &calls,
        caller,
        &headers,
        super::tools::names::GET_ARTICLES,
        query,
        &[],
    )
    .await
}

/// Reads an article; counts a view.
#[utoipa::path(get, path = "/api/v1/knowledge/articles/{id}", tag = "support",
    params(("id" = i64, Path)),
    responses((status = 200, body = Article), (status = 404, body = Problem)))]
async fn get_article(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
) -> Response {
    read_one(
        &calls,
        caller,
        &headers,
        super::tools::names::GET_ARTICLE,
        "article_id",
        id,
    )
    .await
}

/// Changes an article's fields given; with If-Match, only if nobody changed it since.
#[utoipa::path(patch, path = "/api/v1/knowledge/articles/{id}", tag = "support",
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header)),
    request_body = ArticleChanges,
    responses((status = 200, body = Article), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_article(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    act_on(
        &calls,
        caller,
        &headers,
        super::tools::names::UPDATE_ARTICLE,
        "article_id",
        id,
        body,
        true,
        Answer::Ok,
    )
    .await
}

/// The body of article feedback. Only the API reference reads this type; the body
/// goes to the tool, which checks it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Feedback {
    /// Whether the article answered the question.
    helpful: bool,
}

/// Records whether the article helped: body `{"helpful": true}`.
#[utoipa::path(post, path = "/api/v1/knowledge/articles/{id}/feedback", tag = "support",
    params(("id" = i64, Path)),
    request_body(content = Feedback, description = "Whether the article helped"),
    responses((status = 200, body = Article), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn rate_article(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    act_on(
        &calls,
        caller,
        &headers,
        super::tools::names::RATE_ARTICLE,
        "article_id",
        id,
        body,
        false,
        Answer::Ok,
    )
    .await
}

/// Searches the knowledge base by relevance.
#[utoipa::path(get, path = "/api/v1/knowledge/search", tag = "support",
    params(("q" = String, Query, description = "What to look for"),
           ("limit" = Option<u32>, Query, description = "1 to 50 (default 5)")),
    responses((status = 200, body = SearchResults), (status = 422, body = Problem)))]
async fn search_knowledge(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    query: Q,
) -> Response {
    list(
        &calls,
        caller,
        &headers,
        super::tools::names::SEARCH_KNOWLEDGE_BASE,
        query,
        &[("q", "search_term")],
    )
    .await
}

// --- Analytics ----------------------------------------------------------------

/// Tickets created per day, status and priority, the open backlog, first-response
/// and resolution times, SLA breaches and top categories over a window of days.
#[utoipa::path(get, path = "/api/v1/analytics", tag = "support",
    params(("days" = Option<u32>, Query, description = "Window in days, 1 to 365 (default 30)")),
    responses((status = 200, body = Analytics), (status = 422, body = Problem)))]
async fn analytics(
    State(calls): State<Calls>,
    caller: CallerExt,
    headers: HeaderMap,
    query: Q,
) -> Response {
    list(
        &calls,
        caller,
        &headers,
        super::tools::names::GET_ANALYTICS,
        query,
        &[],
    )
    .await
}
