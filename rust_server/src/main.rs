//! bench-axum: a minimal Axum + SQLx server for the benchmark.

use axum::{
    body::Bytes,
    extract::{rejection::QueryRejection, Query, Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    FromRow, PgPool,
};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// The password, if any, comes from the URL or from PGPASSWORD/PGPASSFILE.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The schema holding the users table, put on every connection's search path.
    #[arg(long, env = "DB_SCHEMA")]
    schema: Option<String>,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pool_size: u32,
    /// on: answer only requests whose Host names this machine (trusted_host); off: no such
    /// check, as in the published server.
    #[arg(long, env = "HOST_CHECK", default_value = "on", value_parser = ["on", "off"])]
    host_check: String,
}

#[derive(Serialize, FromRow)]
struct User {
    user_id: String,
    username: String,
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    limit: Option<i64>,
}

fn error(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}

// The server listens on 127.0.0.1 only, and answers only requests that name it: an HTTP/1.1
// request without Host gets a 400 (RFC 9112, 3.2; hyper does not check), and so does a page of
// another site whose name resolves to 127.0.0.1 (DNS rebinding).
const ALLOWED_HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

async fn trusted_host(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    match host.and_then(|h| h.split(':').next()) {
        Some(name) if ALLOWED_HOSTS.contains(&name) => next.run(request).await,
        _ => error(StatusCode::BAD_REQUEST, "invalid host header"),
    }
}

async fn list_users(
    State(pool): State<PgPool>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let limit = match params {
        Ok(Query(Params { limit: None })) => 100,
        Ok(Query(Params { limit: Some(n) })) if (1..=2000).contains(&n) => n,
        Ok(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "limit must be between 1 and 2000",
            )
        }
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, &e.body_text()),
    };
    let result = sqlx::query_as::<_, User>(r#"SELECT * FROM "users" ORDER BY user_id LIMIT $1"#)
        .bind(limit)
        .fetch_all(&pool)
        .await;
    match result {
        Ok(users) => Json(users).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "database error"),
    }
}

async fn health(pool: PgPool, host_check: bool) -> Response {
    match sqlx::query("SELECT 1").execute(&pool).await {
        Ok(_) => Json(json!({
            "status": "ok",
            "server": "axum",
            "driver": "sqlx",
            "pool": pool.options().get_max_connections(),
            "host_check": host_check,
        }))
        .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable" })),
        )
            .into_response(),
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("cannot install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();

    // No ping before each acquire (sqlx's default is one extra round trip per request): the
    // Python pools hand out connections untested too (asyncpg; SQLAlchemy's pool_pre_ping is
    // off by default). Measured in rust_server/README.md, "Against the published Axum server":
    // +13.6% throughput.
    let options = match args.database_url.parse::<PgConnectOptions>() {
        Ok(options) => match &args.schema {
            Some(schema) => options.options([("search_path", schema)]),
            None => options,
        },
        Err(e) => {
            eprintln!("bench-axum: DATABASE_URL is not a PostgreSQL URL: {e}");
            std::process::exit(2);
        }
    };
    let pool = match PgPoolOptions::new()
        .max_connections(args.pool_size)
        .test_before_acquire(false)
        .connect_with(options)
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("bench-axum: cannot connect to the database: {e}");
            std::process::exit(1);
        }
    };

    // The HTTP ceiling: the same 100-row body, serialized once, served from memory.
    let rows = sqlx::query_as::<_, User>(r#"SELECT * FROM "users" ORDER BY user_id LIMIT 100"#)
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
    let body = Bytes::from(serde_json::to_vec(&rows).expect("rows serialize"));
    let static_users = move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    };

    let host_check = args.host_check == "on";
    let app = Router::new()
        .route("/users", get(list_users))
        .route("/users/static", get(static_users))
        .route(
            "/health",
            get(move |State(pool): State<PgPool>| health(pool, host_check)),
        );
    let app = if host_check {
        app.layer(middleware::from_fn(trusted_host))
    } else {
        app
    };
    let app = app.with_state(pool);

    let listener = match tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "bench-axum: cannot listen on {}:{}: {e}",
                args.host, args.port
            );
            std::process::exit(1);
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .expect("server error");
}
