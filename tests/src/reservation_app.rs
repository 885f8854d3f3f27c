//! Starts the real reservation service for a test: its own database, its
//! own queue id, port 0, test secrets, short timers, and optionally MySQL
//! and Redis behind cuttable proxies.

use std::sync::Once;
use std::time::Duration;

use deadpool_redis::redis;
use queue_service::store::QueueStore;
use reservation_service::config::{
    BalanceSettings, DatabaseSettings, HoldSettings, IdempotencySettings, OriginHealthSettings,
    SeatsFeedSettings, Settings,
};
use reservation_service::startup::{Application, RunError, ServerHandle};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::auth::AuthSettings;
use shared::config::{HttpSettings, LogFormat, LogSettings, RedisSettings, SecretSettings};
use shared::ids::{QueueId, UserId};
use shared::redis_pool::RedisPool;
use shared::token::TokenCodec;

use crate::load::fixtures::admit;
use sqlx::MySqlPool;
use sqlx::mysql::MySqlPoolOptions;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;

use crate::auth::{Identity, trusted_header_auth};
use crate::mysql::TestDatabase;
use crate::proxy::TcpProxy;
use crate::{TEST_ADMIN_KEY, TEST_TOKEN_SECRET, redis_url, unique_suffix};

/// Test keys in the shared Redis expire on their own after this.
const TEST_KEY_TTL_SECONDS: u64 = 3600;

/// Knobs a test may turn; [`Default`] suits most tests.
#[derive(Debug, Clone)]
pub struct ReservationAppOptions {
    pub hold_ttl_seconds: u64,
    pub sweep_interval_ms: u64,
    pub db_pool_size: u32,
    pub db_acquire_timeout_ms: u64,
    pub max_charge_amount: i64,
    /// Route the app's MySQL connections through a [`TcpProxy`].
    pub mysql_via_proxy: bool,
    /// Route the app's Redis connections through a [`TcpProxy`].
    pub redis_via_proxy: bool,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors_allowed_origins: String,
    /// `REDIS_KEY_PREFIX`, unique per app by default; a test running the
    /// queue service beside this one passes the queue app's prefix.
    pub redis_key_prefix: String,
    /// How callers are identified; trusted-header unless a test is about
    /// authentication.
    pub auth: AuthSettings,
    pub idempotency_retention_hours: u64,
    /// A MySQL server other than the shared one (e.g. a throwaway server
    /// a fault test kills), as an admin URL.
    pub mysql_admin_url: Option<String>,
    /// `SEATS_FEED_INTERVAL_MS`.
    pub seats_feed_interval_ms: u64,
    /// `ORIGIN_HEALTH_INTERVAL_MS`.
    pub origin_health_interval_ms: u64,
    /// `REDIS_CLUSTER_URLS`: when not empty, the app (and the test's own
    /// pool) use that Redis Cluster instead of the shared Redis.
    pub redis_cluster_urls: String,
}

impl Default for ReservationAppOptions {
    fn default() -> Self {
        Self {
            hold_ttl_seconds: 300,
            sweep_interval_ms: 200,
            db_pool_size: 24,
            db_acquire_timeout_ms: 10_000,
            max_charge_amount: 10_000_000,
            mysql_via_proxy: false,
            redis_via_proxy: false,
            cors_allowed_origins: String::new(),
            redis_key_prefix: crate::queue_app::unique_key_prefix(),
            auth: trusted_header_auth(),
            idempotency_retention_hours: 24 * 7,
            mysql_admin_url: None,
            seats_feed_interval_ms: 200,
            origin_health_interval_ms: 200,
            redis_cluster_urls: String::new(),
        }
    }
}

/// A running reservation service and what a test needs to talk to it.
/// Dropping it stops the server, then drops the test database.
pub struct TestReservationApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    /// How this app's callers identify themselves.
    pub identity: Identity,
    pub port: u16,
    /// Pooled generously so hundreds of requests can be in flight at once.
    pub client: reqwest::Client,
    /// Direct to the test database (never through the proxy), for assertions.
    pub db_pool: MySqlPool,
    /// Direct to Redis, for activating users.
    pub redis_pool: RedisPool,
    /// The queue of every concert [`TestReservationApp::create_open_concert`] makes.
    pub queue_id: QueueId,
    pub codec: TokenCodec,
    pub mysql_proxy: Option<TcpProxy>,
    pub redis_proxy: Option<TcpProxy>,
    /// `REDIS_KEY_PREFIX` of the app (and of its replicas).
    pub redis_key_prefix: String,
    /// The running service's replica id (seat feed lease holder, health field).
    pub replica_id: String,
    server: ServerHandle,
    running: Option<JoinHandle<Result<(), RunError>>>,
    /// Last field: dropped after the pools above are closed.
    pub database: TestDatabase,
}

/// A second replica of a [`TestReservationApp`]'s service: the same
/// database and Redis key space, its own port, pools and workers.
pub struct TestReplica {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub client: reqwest::Client,
    pub replica_id: String,
    /// In front of this replica's MySQL connections only, when asked for.
    pub mysql_proxy: Option<TcpProxy>,
    server: ServerHandle,
    running: Option<JoinHandle<Result<(), RunError>>>,
}

impl TestReplica {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops the replica as SIGTERM would, and waits until its workers
    /// have finished (see [`TestReservationApp::shut_down`]).
    pub async fn shut_down(&mut self) {
        shut_down(&self.server, &mut self.running).await;
    }
}

impl Drop for TestReplica {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// A started service: its port, replica id, handle and task.
struct Started {
    port: u16,
    replica_id: String,
    server: ServerHandle,
    running: JoinHandle<Result<(), RunError>>,
}

async fn start(settings: Settings) -> Started {
    let app = Application::build(settings)
        .await
        .expect("build the reservation service");
    Started {
        port: app.port(),
        replica_id: app.replica_id().to_owned(),
        server: app.server_handle(),
        running: tokio::spawn(app.run_until_stopped()),
    }
}

async fn shut_down(server: &ServerHandle, running: &mut Option<JoinHandle<Result<(), RunError>>>) {
    server.stop(true).await;
    if let Some(running) = running.take() {
        running
            .await
            .expect("the service task panicked")
            .expect("the service stopped cleanly");
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("build the HTTP client")
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConcertJson {
    pub id: u64,
    pub title: String,
    pub queue_id: String,
    pub schedules: Vec<ScheduleJson>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleJson {
    pub id: u64,
    pub starts_at: String,
    pub booking_opens_at: String,
    pub booking_closes_at: String,
    pub available_seats: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeatJson {
    pub id: u64,
    pub number: u32,
    pub price: i64,
    pub status: String,
}

pub async fn spawn_reservation_app() -> TestReservationApp {
    spawn_reservation_app_with(ReservationAppOptions::default()).await
}

pub async fn spawn_reservation_app_with(options: ReservationAppOptions) -> TestReservationApp {
    init_test_logging();
    let database = match &options.mysql_admin_url {
        Some(url) => TestDatabase::create_on(url).await,
        None => TestDatabase::create().await,
    };

    let mysql_proxy = if options.mysql_via_proxy {
        Some(
            TcpProxy::start_to(&host_port_of(&database.url()))
                .await
                .expect("start the MySQL proxy"),
        )
    } else {
        None
    };
    let redis_proxy = if options.redis_via_proxy {
        Some(
            TcpProxy::start_to(&host_port_of(&redis_url()))
                .await
                .expect("start the Redis proxy"),
        )
    } else {
        None
    };
    let app_db_url = match &mysql_proxy {
        Some(proxy) => database.url_via(&proxy.host_port()),
        None => database.url(),
    };
    let app_redis_url = match &redis_proxy {
        Some(proxy) => format!("redis://{}", proxy.host_port()),
        None => redis_url(),
    };

    let started = start(settings_for(&options, app_db_url, app_redis_url)).await;
    let port = started.port;

    let db_pool = MySqlPoolOptions::new()
        .max_connections(4)
        .connect(&database.url())
        .await
        .expect("connect to the test database");
    let redis_pool = shared::redis_pool::build_pool(&RedisSettings {
        url: redis_url(),
        cluster_urls: options.redis_cluster_urls.clone(),
        pool_size: 16,
        timeout_ms: 2000,
        key_prefix: options.redis_key_prefix.clone(),
    })
    .expect("build the test redis pool");

    TestReservationApp {
        identity: Identity::for_settings(&options.auth),
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: http_client(),
        db_pool,
        redis_pool,
        queue_id: QueueId::parse(&format!("rq-{}", unique_suffix())).expect("a valid queue id"),
        codec: test_codec(),
        mysql_proxy,
        redis_proxy,
        redis_key_prefix: options.redis_key_prefix.clone(),
        replica_id: started.replica_id,
        server: started.server,
        running: Some(started.running),
        database,
    }
}

fn settings_for(options: &ReservationAppOptions, db_url: String, redis_url: String) -> Settings {
    Settings {
        http: HttpSettings {
            bind_addr: "127.0.0.1".to_owned(),
            port: 0,
            workers: Some(2),
            cors_allowed_origins: options.cors_allowed_origins.clone(),
            trusted_proxies: String::new(),
            request_timeout_ms: 10_000,
            max_connections_per_worker: 8_192,
        },
        redis: RedisSettings {
            url: redis_url,
            cluster_urls: options.redis_cluster_urls.clone(),
            pool_size: 64,
            timeout_ms: 1000,
            key_prefix: options.redis_key_prefix.clone(),
        },
        database: DatabaseSettings {
            url: db_url.into(),
            pool_size: options.db_pool_size,
            acquire_timeout_ms: options.db_acquire_timeout_ms,
        },
        secrets: SecretSettings {
            queue_token_secret: Some(TEST_TOKEN_SECRET.to_owned().into()),
            admin_api_key: Some(TEST_ADMIN_KEY.to_owned().into()),
        },
        auth: options.auth.clone(),
        idempotency: IdempotencySettings {
            retention_hours: options.idempotency_retention_hours,
            purge_interval_ms: 200,
            purge_batch: 100,
        },
        holds: HoldSettings {
            ttl_seconds: options.hold_ttl_seconds,
            sweep_interval_ms: options.sweep_interval_ms,
            sweep_batch: 500,
        },
        balance: BalanceSettings {
            max_charge_amount: options.max_charge_amount,
        },
        seats_feed: SeatsFeedSettings {
            interval_ms: options.seats_feed_interval_ms,
        },
        origin_health: OriginHealthSettings {
            interval_ms: options.origin_health_interval_ms,
        },
        log: LogSettings {
            format: LogFormat::Pretty,
        },
    }
}

impl Drop for TestReservationApp {
    fn drop(&mut self) {
        // Sent at once; the server winds down (or is dropped with the
        // test's runtime) while the database is being dropped.
        drop(self.server.stop(false));
    }
}

impl TestReservationApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops the service as SIGTERM would (in-flight requests drain, the
    /// workers finish their shutdown) and waits for it; the database and
    /// the test pools stay.
    pub async fn shut_down(&mut self) {
        shut_down(&self.server, &mut self.running).await;
    }

    /// Another replica on this app's database and Redis key space, set up
    /// by `options` (its key prefix is this app's, whatever it says).
    pub async fn spawn_replica(&self, options: ReservationAppOptions) -> TestReplica {
        let mysql_proxy = if options.mysql_via_proxy {
            Some(
                TcpProxy::start_to(&host_port_of(&self.database.url()))
                    .await
                    .expect("start the MySQL proxy"),
            )
        } else {
            None
        };
        let db_url = match &mysql_proxy {
            Some(proxy) => self.database.url_via(&proxy.host_port()),
            None => self.database.url(),
        };
        let options = ReservationAppOptions {
            redis_key_prefix: self.redis_key_prefix.clone(),
            ..options
        };
        let started = start(settings_for(&options, db_url, redis_url())).await;
        TestReplica {
            address: format!("http://127.0.0.1:{}", started.port),
            client: http_client(),
            replica_id: started.replica_id,
            mysql_proxy,
            server: started.server,
            running: Some(started.running),
        }
    }

    /// A request as `user` would send it.
    pub fn as_user(&self, request: reqwest::RequestBuilder, user: &str) -> reqwest::RequestBuilder {
        self.identity.apply(request, user)
    }

    pub async fn create_concert(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/admin/concerts"))
            .bearer_auth(TEST_ADMIN_KEY)
            .json(body)
            .send()
            .await
            .expect("POST /v1/admin/concerts")
    }

    /// A concert in this app's queue with one schedule whose booking
    /// window is open now.
    pub async fn create_open_concert(&self, seat_count: u32, price: i64) -> ConcertJson {
        self.create_open_concert_in(&self.queue_id, seat_count, price)
            .await
    }

    /// Like [`TestReservationApp::create_open_concert`], in another queue.
    pub async fn create_open_concert_in(
        &self,
        queue_id: &QueueId,
        seat_count: u32,
        price: i64,
    ) -> ConcertJson {
        let now = OffsetDateTime::now_utc();
        self.create_concert_with_window(
            queue_id,
            now - time::Duration::hours(1),
            now + time::Duration::hours(1),
            seat_count,
            price,
        )
        .await
    }

    pub async fn create_concert_with_window(
        &self,
        queue_id: &QueueId,
        opens_at: OffsetDateTime,
        closes_at: OffsetDateTime,
        seat_count: u32,
        price: i64,
    ) -> ConcertJson {
        let body = json!({
            "title": "Test concert",
            "queue_id": queue_id.as_str(),
            "schedules": [{
                "starts_at": rfc3339(closes_at + time::Duration::hours(1)),
                "booking_opens_at": rfc3339(opens_at),
                "booking_closes_at": rfc3339(closes_at),
                "seat_count": seat_count,
                "price": price,
            }],
        });
        let response = self.create_concert(&body).await;
        assert_eq!(response.status().as_u16(), 201, "create concert");
        response.json().await.expect("concert JSON")
    }

    /// An open schedule with a single seat: (schedule id, seat id).
    pub async fn one_open_seat(&self, price: i64) -> (u64, u64) {
        let schedule = self.create_open_concert(1, price).await.schedules[0].id;
        (schedule, self.seat_ids(schedule).await[0])
    }

    /// Ids of a schedule's seats in seat-number order.
    pub async fn seat_ids(&self, schedule_id: u64) -> Vec<u64> {
        self.seats(schedule_id, "")
            .await
            .iter()
            .map(|s| s.id)
            .collect()
    }

    /// The schedule's seats matching `query` (e.g. `?status=held`): one
    /// page when the query names a `limit`, otherwise every page.
    pub async fn seats(&self, schedule_id: u64, query: &str) -> Vec<SeatJson> {
        let page = |query: String| async move {
            let response = self
                .client
                .get(self.url(&format!("/v1/schedules/{schedule_id}/seats{query}")))
                .send()
                .await
                .expect("GET seats");
            assert_eq!(response.status().as_u16(), 200, "list seats");
            response.json::<Vec<SeatJson>>().await.expect("seats JSON")
        };
        if query.contains("limit=") {
            return page(query.to_owned()).await;
        }
        const PAGE: usize = 5_000;
        let joiner = if query.is_empty() { '?' } else { '&' };
        let mut all: Vec<SeatJson> = Vec::new();
        loop {
            let after = all.last().map_or(0, |seat| seat.id);
            let next = page(format!("{query}{joiner}limit={PAGE}&after={after}")).await;
            let done = next.len() < PAGE;
            all.extend(next);
            if done {
                return all;
            }
        }
    }

    /// Makes `user` active in this app's queue; returns their token.
    pub async fn activate(&self, user: &str) -> String {
        self.activate_in(&self.queue_id, user).await
    }

    /// Makes `user` active in `queue_id`; returns their token.
    pub async fn activate_in(&self, queue_id: &QueueId, user: &str) -> String {
        let user = UserId::parse(user).expect("a valid user id");
        activate_user(&self.redis_pool, queue_id, &user).await
    }

    pub async fn hold(
        &self,
        user: &str,
        token: &str,
        schedule_id: u64,
        seat_id: u64,
    ) -> reqwest::Response {
        self.as_user(self.client.post(self.url("/v1/reservations")), user)
            .header("X-Queue-Token", token)
            .json(&json!({ "schedule_id": schedule_id, "seat_id": seat_id }))
            .send()
            .await
            .expect("POST /v1/reservations")
    }

    /// Holds and returns the reservation id, asserting 201.
    pub async fn hold_ok(&self, user: &str, token: &str, schedule_id: u64, seat_id: u64) -> u64 {
        let response = self.hold(user, token, schedule_id, seat_id).await;
        assert_eq!(response.status().as_u16(), 201, "hold seat {seat_id}");
        let body: Value = response.json().await.expect("hold JSON");
        body["reservation_id"].as_u64().expect("reservation_id")
    }

    pub async fn pay(
        &self,
        user: &str,
        token: &str,
        reservation_id: u64,
        idempotency_key: &str,
    ) -> reqwest::Response {
        self.as_user(
            self.client
                .post(self.url(&format!("/v1/reservations/{reservation_id}/payment"))),
            user,
        )
        .header("X-Queue-Token", token)
        .header("Idempotency-Key", idempotency_key)
        .send()
        .await
        .expect("POST payment")
    }

    pub async fn charge(
        &self,
        user: &str,
        idempotency_key: &str,
        amount: Value,
    ) -> reqwest::Response {
        self.as_user(
            self.client.post(self.url("/v1/users/me/balance/charges")),
            user,
        )
        .header("Idempotency-Key", idempotency_key)
        .json(&json!({ "amount": amount }))
        .send()
        .await
        .expect("POST charge")
    }

    /// Tops up, asserting 200.
    pub async fn charge_ok(&self, user: &str, amount: i64) {
        let key = format!("topup-{}", unique_suffix());
        let response = self.charge(user, &key, json!(amount)).await;
        assert_eq!(response.status().as_u16(), 200, "charge {amount}");
    }

    pub async fn balance(&self, user: &str) -> i64 {
        let response = self
            .as_user(self.client.get(self.url("/v1/users/me/balance")), user)
            .send()
            .await
            .expect("GET balance");
        assert_eq!(response.status().as_u16(), 200, "get balance");
        let body: Value = response.json().await.expect("balance JSON");
        body["balance"].as_i64().expect("balance")
    }

    pub async fn get_reservation(&self, user: &str, reservation_id: u64) -> reqwest::Response {
        self.as_user(
            self.client
                .get(self.url(&format!("/v1/reservations/{reservation_id}"))),
            user,
        )
        .send()
        .await
        .expect("GET reservation")
    }

    pub async fn release(&self, user: &str, reservation_id: u64) -> reqwest::Response {
        self.as_user(
            self.client
                .delete(self.url(&format!("/v1/reservations/{reservation_id}"))),
            user,
        )
        .send()
        .await
        .expect("DELETE reservation")
    }

    /// The money and seat invariants, checked in SQL:
    /// every balance equals the sum of its ledger and is not negative;
    /// every payment has exactly one matching ledger row; sold seats,
    /// confirmed reservations and payments agree; no seat has two live
    /// claims.
    pub async fn assert_invariants(&self) {
        assert_sql_invariants(&self.db_pool).await;
    }
}

/// The money and seat invariants of a reservation database, in SQL (see
/// [`TestReservationApp::assert_invariants`]); also for databases of
/// services the test runs as processes.
pub async fn assert_sql_invariants(db_pool: &MySqlPool) {
    let balances: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT CONVERT(b.user_id USING utf8mb4), b.balance, CAST(COALESCE(SUM(l.amount), 0) AS SIGNED) \
               FROM balances b LEFT JOIN balance_ledger l ON l.user_id = b.user_id \
              GROUP BY b.user_id, b.balance",
        )
        .fetch_all(db_pool)
        .await
        .expect("read balances");
    for (user, balance, ledger) in &balances {
        assert_eq!(balance, ledger, "balance of {user} differs from its ledger");
        assert!(*balance >= 0, "balance of {user} is negative");
    }
    let orphans: i64 = scalar(
        db_pool,
        "SELECT COUNT(*) FROM balance_ledger l \
              WHERE NOT EXISTS (SELECT 1 FROM balances b WHERE b.user_id = l.user_id)",
    )
    .await;
    assert_eq!(orphans, 0, "ledger rows without a balance");
    let unmatched: i64 = scalar(
            db_pool,
            "SELECT COUNT(*) FROM payments p \
              WHERE (SELECT COUNT(*) FROM balance_ledger l \
                      WHERE l.payment_id = p.id AND l.amount = -p.amount AND l.kind = 'PAYMENT') <> 1",
        )
        .await;
    assert_eq!(unmatched, 0, "payments without exactly one ledger row");
    let sold: i64 = scalar(db_pool, "SELECT COUNT(*) FROM seats WHERE status = 'SOLD'").await;
    let confirmed: i64 = scalar(
        db_pool,
        "SELECT COUNT(*) FROM reservations WHERE status = 'CONFIRMED'",
    )
    .await;
    let payments: i64 = scalar(db_pool, "SELECT COUNT(*) FROM payments").await;
    assert_eq!(
        (sold, confirmed),
        (payments, payments),
        "sold seats, confirmed reservations and payments disagree"
    );
    let double_claims: i64 = scalar(
        db_pool,
        "SELECT COUNT(*) FROM (SELECT seat_id FROM reservations \
               WHERE status = 'CONFIRMED' OR (status = 'HELD' AND hold_expires_at > NOW(3)) \
               GROUP BY seat_id HAVING COUNT(*) > 1) t",
    )
    .await;
    assert_eq!(double_claims, 0, "a seat has two live reservations");
    let paid_twice: i64 = scalar(
        db_pool,
        "SELECT COUNT(*) FROM (SELECT reservation_id FROM payments \
               GROUP BY reservation_id HAVING COUNT(*) > 1) t",
    )
    .await;
    assert_eq!(paid_twice, 0, "a reservation was paid twice");
    let orphan_holds: i64 = scalar(
            db_pool,
            "SELECT COUNT(*) FROM seats s WHERE s.status = 'HELD' AND NOT EXISTS ( \
               SELECT 1 FROM reservations r WHERE r.seat_id = s.id AND r.user_id = s.holder_user_id \
                  AND r.hold_expires_at = s.hold_expires_at)",
        )
        .await;
    assert_eq!(orphan_holds, 0, "a seat is held without its reservation");
}

async fn scalar(pool: &MySqlPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The codec both services use in tests.
pub fn test_codec() -> TokenCodec {
    TokenCodec::new(&TEST_TOKEN_SECRET.to_owned().into())
}

/// Makes `user` active in `queue_id` the way production does (the queue's
/// own issue script and a scheduler tick, with the queue set to admit
/// everyone) and returns their signed token. The queue's keys expire after
/// an hour, so the shared Redis does not fill up with test queues.
pub async fn activate_user(redis_pool: &RedisPool, queue_id: &QueueId, user: &UserId) -> String {
    let store = QueueStore::new(redis_pool.clone());
    let tokens = admit(&store, &test_codec(), queue_id, std::slice::from_ref(user))
        .await
        .expect("admit the user");
    let keyspace = redis_pool.keyspace();
    let mut pipe = redis::pipe();
    for key in keyspace
        .queue(queue_id)
        .all()
        .into_iter()
        .chain([keyspace.registry()])
    {
        pipe.cmd("EXPIRE")
            .arg(key)
            .arg(TEST_KEY_TTL_SECONDS)
            .ignore();
    }
    let mut conn = redis_pool.get().await.expect("a redis connection");
    let () = pipe.query_async(&mut conn).await.expect("expire test keys");
    tokens.into_iter().next().expect("one token per user")
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("formattable instant")
}

/// `host:port` of a `scheme://[auth@]host:port[/...]` URL.
fn host_port_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?'])
        .next()
        .unwrap_or(after_scheme);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

/// Logs go to the test output only with `TEST_LOG=1`.
fn init_test_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            shared::telemetry::init(LogFormat::Pretty);
        }
    });
}
