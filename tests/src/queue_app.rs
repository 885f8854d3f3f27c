//! The queue service started in-process on a random port.

use std::collections::BTreeMap;
use std::time::Duration;

use deadpool_redis::redis;
use queue_service::config::{IssueSettings, SchedulerSettings, Settings};
use queue_service::domain::QueueConfig;
use queue_service::startup::Application;
use queue_service::store::{QueueStore, TickParams, TickReport};
use reqwest::Response;
use secrecy::SecretString;
use serde_json::Value;
use shared::auth::AuthSettings;
use shared::config::{HttpSettings, LogFormat, LogSettings, RedisSettings, SecretSettings};
use shared::ids::{QueueId, UserId};
use shared::queue::KeySpace;
use shared::token::QueueTicket;

use crate::auth::{Identity, trusted_header_auth};
use crate::load::fixtures::{NO_LIMITS, issue_many};
use crate::{TEST_ADMIN_KEY, TEST_TOKEN_SECRET, unique_suffix};

pub struct QueueAppOptions {
    pub redis_url: String,
    /// `REDIS_CLUSTER_URLS`: when not empty, the app uses that Redis
    /// Cluster instead of `redis_url`.
    pub redis_cluster_urls: String,
    /// How callers are identified; trusted-header by default, as most tests
    /// are about the line, not about authentication.
    pub auth: AuthSettings,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: String,
    /// Queues declared in the configuration.
    pub declared: BTreeMap<String, QueueConfig>,
    /// Each app gets its own key namespace by default, so no other test's
    /// scheduler ticks its queues; apps that must share state pass one.
    pub key_prefix: String,
    /// `None` runs no scheduler in this app; tests then tick by hand.
    pub tick_ms: Option<u64>,
    /// `APP__REDIS__TIMEOUT_MS`.
    pub redis_timeout_ms: u64,
    /// `REDIS_POOL_SIZE`.
    pub redis_pool_size: usize,
    /// `ISSUE_WAIT_REPLICAS` / `ISSUE_WAIT_TIMEOUT_MS` (off by default).
    pub issue: IssueSettings,
}

impl Default for QueueAppOptions {
    fn default() -> Self {
        Self {
            redis_url: crate::redis_url(),
            redis_cluster_urls: String::new(),
            auth: trusted_header_auth(),
            trusted_proxies: String::new(),
            declared: BTreeMap::new(),
            key_prefix: unique_key_prefix(),
            tick_ms: Some(100),
            redis_timeout_ms: 1000,
            redis_pool_size: 32,
            issue: IssueSettings::default(),
        }
    }
}

impl QueueAppOptions {
    /// No scheduler: the test ticks by hand, so time and pace are its own.
    pub fn without_scheduler() -> Self {
        Self {
            tick_ms: None,
            ..Self::default()
        }
    }
}

/// Puts `n` users named `{prefix}{i}` in line, in that order, through the
/// queue's own issue script (pipelined: the HTTP path is covered elsewhere,
/// here only the volume matters); returns their tickets in issue order.
pub async fn line_up(
    store: &QueueStore,
    queue: &QueueId,
    prefix: &str,
    n: usize,
) -> Vec<QueueTicket> {
    let users: Vec<UserId> = (0..n)
        .map(|i| UserId::parse(&format!("{prefix}{i}")).expect("a valid user id"))
        .collect();
    let seqs = issue_many(store.pool(), queue, &users)
        .await
        .expect("users issued");
    users
        .into_iter()
        .zip(seqs)
        .map(|(user_id, seq)| QueueTicket {
            queue_id: queue.clone(),
            user_id,
            seq,
        })
        .collect()
}

/// A Redis key namespace no other test uses.
pub fn unique_key_prefix() -> String {
    format!("t-{}:", unique_suffix())
}

pub fn queue_settings(options: &QueueAppOptions) -> Settings {
    Settings {
        http: HttpSettings {
            bind_addr: "127.0.0.1".to_owned(),
            port: 0,
            workers: Some(2),
            cors_allowed_origins: "http://allowed.example".to_owned(),
            trusted_proxies: options.trusted_proxies.clone(),
            request_timeout_ms: 10_000,
            max_connections_per_worker: 8_192,
        },
        redis: RedisSettings {
            url: options.redis_url.clone(),
            cluster_urls: options.redis_cluster_urls.clone(),
            pool_size: options.redis_pool_size,
            timeout_ms: options.redis_timeout_ms,
            key_prefix: options.key_prefix.clone(),
        },
        secrets: SecretSettings {
            queue_token_secret: Some(SecretString::from(TEST_TOKEN_SECRET)),
            admin_api_key: Some(SecretString::from(TEST_ADMIN_KEY)),
        },
        auth: options.auth.clone(),
        queues: options.declared.clone(),
        scheduler: SchedulerSettings {
            enabled: options.tick_ms.is_some(),
            tick_ms: options.tick_ms.unwrap_or(1000),
            eviction_batch: 10_000,
        },
        issue: options.issue,
        log: LogSettings {
            format: LogFormat::Pretty,
        },
    }
}

pub struct TestQueueApp {
    pub address: String,
    pub client: reqwest::Client,
    /// How this app's callers identify themselves.
    pub identity: Identity,
    /// Direct access to the same Redis, for ticking by hand and checks.
    pub store: QueueStore,
    redis_url: String,
    keyspace: KeySpace,
    created: std::sync::Mutex<Vec<QueueId>>,
}

pub async fn spawn_queue_app(options: QueueAppOptions) -> TestQueueApp {
    let settings = queue_settings(&options);
    let store =
        QueueStore::new(shared::redis_pool::build_pool(&settings.redis).expect("test redis pool"));
    let app = Application::build(settings)
        .await
        .expect("queue-service builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestQueueApp {
        identity: Identity::for_settings(&options.auth),
        address,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
        store,
        keyspace: KeySpace::new(&options.key_prefix).expect("valid test key prefix"),
        redis_url: options.redis_url,
        created: Default::default(),
    }
}

/// A queue id no other test uses.
pub fn unique_queue(label: &str) -> QueueId {
    QueueId::parse(&format!("t-{label}-{}", unique_suffix())).expect("valid test queue id")
}

pub fn queue_config(
    max_active: u32,
    admit_per_second: u32,
    active_ttl_seconds: u32,
    heartbeat_ttl_seconds: u32,
) -> QueueConfig {
    QueueConfig {
        max_active,
        admit_per_second,
        active_ttl_seconds,
        heartbeat_ttl_seconds,
        max_waiting: None,
        pow_difficulty_bits: 0,
        limits: NO_LIMITS,
        opens_at: None,
        prequeue_spread_seconds: queue_service::domain::DEFAULT_PREQUEUE_SPREAD_SECONDS,
        admit_per_seat: queue_service::domain::DEFAULT_ADMIT_PER_SEAT,
        origin: queue_service::domain::OriginLimits::DEFAULT,
        poll_budget_per_second: None,
    }
}

impl TestQueueApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Creates a fresh queue through the admin API; its keys are deleted
    /// when the app is dropped.
    pub async fn create_queue(&self, label: &str, config: QueueConfig) -> QueueId {
        let queue = unique_queue(label);
        let response = self
            .put_queue(&queue, &serde_json::to_value(config).unwrap())
            .await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        self.created.lock().unwrap().push(queue.clone());
        queue
    }

    /// Deletes `queue`'s keys when the app is dropped, for queues a test
    /// set up by other means than [`Self::create_queue`].
    pub fn clean_up_after(&self, queue: &QueueId) {
        self.created.lock().unwrap().push(queue.clone());
    }

    /// One scheduler step on `queue`, as the scheduler would run it.
    pub async fn tick(&self, queue: &QueueId) -> TickReport {
        self.store
            .tick(queue, TickParams::by_hand(10_000))
            .await
            .expect("tick runs")
            .expect("queue is configured")
    }

    pub async fn put_queue(&self, queue: &QueueId, body: &Value) -> Response {
        self.client
            .put(self.url(&format!("/v1/admin/queues/{queue}")))
            .bearer_auth(TEST_ADMIN_KEY)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// A request as `user` would send it.
    pub fn as_user(&self, request: reqwest::RequestBuilder, user: &str) -> reqwest::RequestBuilder {
        self.identity.apply(request, user)
    }

    pub async fn issue(&self, queue: &QueueId, user: &str) -> Response {
        self.as_user(
            self.client
                .post(self.url(&format!("/v1/queues/{queue}/tokens"))),
            user,
        )
        .send()
        .await
        .expect("request sent")
    }

    /// Issues and returns the token, asserting success.
    pub async fn join_token(&self, queue: &QueueId, user: &str) -> String {
        self.join(queue, user).await["token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    /// Issues and returns the status body, asserting success.
    pub async fn join(&self, queue: &QueueId, user: &str) -> Value {
        let response = self.issue(queue, user).await;
        assert!(response.status().is_success(), "{}", response.status());
        response.json().await.expect("json body")
    }

    pub async fn heartbeat(&self, queue: &QueueId, user: &str, token: &str) -> Response {
        self.as_user(
            self.client
                .post(self.url(&format!("/v1/queues/{queue}/heartbeat"))),
            user,
        )
        .header("X-Queue-Token", token)
        .send()
        .await
        .expect("request sent")
    }

    pub async fn leave(&self, queue: &QueueId, user: &str, token: &str) -> Response {
        self.as_user(
            self.client
                .delete(self.url(&format!("/v1/queues/{queue}/tokens/me"))),
            user,
        )
        .header("X-Queue-Token", token)
        .send()
        .await
        .expect("request sent")
    }

    pub async fn get_stats(&self, queue: &QueueId) -> Response {
        self.client
            .get(self.url(&format!("/v1/queues/{queue}")))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn stats(&self, queue: &QueueId) -> Value {
        self.get_stats(queue).await.json().await.expect("json body")
    }

    /// The Prometheus exposition text.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("request sent")
            .text()
            .await
            .expect("text body")
    }
}

impl Drop for TestQueueApp {
    fn drop(&mut self) {
        let queues = std::mem::take(&mut *self.created.lock().unwrap());
        if !queues.is_empty() {
            delete_queues(&self.redis_url, &self.keyspace, &queues);
        }
    }
}

/// Removes test queues from Redis so the shared server does not fill up
/// and other schedulers stop ticking them.
pub fn delete_queues(redis_url: &str, keyspace: &KeySpace, queues: &[QueueId]) {
    let Ok(client) = redis::Client::open(redis_url) else {
        return;
    };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
        return;
    };
    for queue in queues {
        let keys = keyspace.queue(queue);
        let _: redis::RedisResult<()> = redis::pipe()
            .cmd("SREM")
            .arg(keyspace.registry())
            .arg(queue.as_str())
            .cmd("DEL")
            .arg(&keys.all()[..])
            .query(&mut conn);
    }
}
