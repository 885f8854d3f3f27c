//! Layered settings: built-in defaults, then an optional file named by
//! `CONFIG_FILE`, then `APP__SECTION__KEY` environment variables, then the
//! plain names every container platform sets (`PORT`, `REDIS_URL`, ...).
//!
//! Loading takes the environment as a map so tests can exercise the layering
//! without touching the process environment.

use std::collections::HashMap;

use config::builder::DefaultState;
use config::{Config, ConfigBuilder, ConfigError, Environment, File};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Plain environment names and the setting each one overrides.
const PLAIN_ENV_NAMES: &[(&str, &str)] = &[
    ("PORT", "http.port"),
    ("BIND_ADDR", "http.bind_addr"),
    ("HTTP_WORKERS", "http.workers"),
    ("HTTP_REQUEST_TIMEOUT_MS", "http.request_timeout_ms"),
    (
        "HTTP_MAX_CONNECTIONS_PER_WORKER",
        "http.max_connections_per_worker",
    ),
    ("CORS_ALLOWED_ORIGINS", "http.cors_allowed_origins"),
    ("TRUSTED_PROXIES", "http.trusted_proxies"),
    ("AUTH_MODE", "auth.mode"),
    ("AUTH_JWT_SECRET", "auth.jwt_secret"),
    ("AUTH_JWT_PUBLIC_KEY_FILE", "auth.jwt_public_key_file"),
    ("AUTH_JWT_JWKS_FILE", "auth.jwt_jwks_file"),
    ("AUTH_JWT_ISSUER", "auth.jwt_issuer"),
    ("AUTH_JWT_AUDIENCE", "auth.jwt_audience"),
    ("AUTH_DEV_SIGNIN", "auth.dev_signin"),
    ("AUTH_DEV_SIGNIN_TTL_SECONDS", "auth.dev_signin_ttl_seconds"),
    ("REDIS_URL", "redis.url"),
    ("REDIS_CLUSTER_URLS", "redis.cluster_urls"),
    ("REDIS_POOL_SIZE", "redis.pool_size"),
    ("REDIS_KEY_PREFIX", "redis.key_prefix"),
    ("DATABASE_URL", "database.url"),
    ("DATABASE_POOL_SIZE", "database.pool_size"),
    ("QUEUE_TOKEN_SECRET", "secrets.queue_token_secret"),
    ("ADMIN_API_KEY", "secrets.admin_api_key"),
    ("HOLD_TTL_SECONDS", "holds.ttl_seconds"),
    ("IDEMPOTENCY_RETENTION_HOURS", "idempotency.retention_hours"),
    ("SCHEDULER_TICK_MS", "scheduler.tick_ms"),
    ("ISSUE_WAIT_REPLICAS", "issue.wait_replicas"),
    ("ISSUE_WAIT_TIMEOUT_MS", "issue.wait_timeout_ms"),
    ("LOG_FORMAT", "log.format"),
];

const MIN_SECRET_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{variable} is not set: export it (both services must share the same value)")]
    MissingSecret { variable: &'static str },
    #[error("{variable} is too short: use at least {MIN_SECRET_LEN} characters")]
    WeakSecret { variable: &'static str },
    #[error("{variable} must be {expected}, got {value}")]
    OutOfRange {
        variable: &'static str,
        expected: String,
        value: String,
    },
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
}

/// Reads settings of type `T` from the layers described in the module docs.
/// `defaults` registers the service's own defaults on the builder.
pub fn load<T: DeserializeOwned>(
    env: &HashMap<String, String>,
    defaults: impl FnOnce(
        ConfigBuilder<DefaultState>,
    ) -> Result<ConfigBuilder<DefaultState>, ConfigError>,
) -> Result<T, SettingsError> {
    let mut builder = defaults(common_defaults(Config::builder())?)?;
    if let Some(path) = env.get("CONFIG_FILE") {
        builder = builder.add_source(File::with_name(path).required(true));
    }
    builder = builder.add_source(
        Environment::with_prefix("APP")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(Some(env.clone().into_iter().collect())),
    );
    for (variable, key) in PLAIN_ENV_NAMES {
        builder = builder.set_override_option(*key, env.get(*variable).cloned())?;
    }
    Ok(builder.build()?.try_deserialize()?)
}

/// The process environment as a map, for [`load`].
pub fn process_env() -> HashMap<String, String> {
    std::env::vars().collect()
}

fn common_defaults(
    builder: ConfigBuilder<DefaultState>,
) -> Result<ConfigBuilder<DefaultState>, ConfigError> {
    builder
        .set_default("http.bind_addr", "127.0.0.1")?
        .set_default("redis.url", "redis://127.0.0.1:6379")?
        .set_default("redis.pool_size", 2)?
        .set_default("redis.timeout_ms", 1000)?
        .set_default("log.format", "pretty")
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub bind_addr: String,
    pub port: u16,
    /// Worker threads; defaults to one per core.
    pub workers: Option<usize>,
    /// Comma-separated origins whose pages may call the API from a browser
    /// (e.g. `https://tickets.example.com`); empty allows none.
    #[serde(default)]
    pub cors_allowed_origins: String,
    /// Comma-separated CIDR blocks of our own proxies, whose
    /// `X-Forwarded-For` is believed (see `crate::client_addr`).
    #[serde(default)]
    pub trusted_proxies: String,
    /// The longest one request may take, body included (408 after it).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Open connections one worker accepts; more wait in the kernel's
    /// backlog. Keep workers × this below the open-file limit.
    #[serde(default = "default_max_connections_per_worker")]
    pub max_connections_per_worker: usize,
}

fn default_request_timeout_ms() -> u64 {
    10_000
}

fn default_max_connections_per_worker() -> usize {
    8_192
}

impl HttpSettings {
    /// Refuses settings that cannot run rather than panicking later.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.workers == Some(0) {
            return Err(SettingsError::OutOfRange {
                variable: "HTTP_WORKERS",
                expected: "at least 1 (or unset: one per core)".to_owned(),
                value: "0".to_owned(),
            });
        }
        if !(100..=600_000).contains(&self.request_timeout_ms) {
            return Err(SettingsError::OutOfRange {
                variable: "HTTP_REQUEST_TIMEOUT_MS",
                expected: "between 100 and 600000".to_owned(),
                value: self.request_timeout_ms.to_string(),
            });
        }
        if self.max_connections_per_worker == 0 {
            return Err(SettingsError::OutOfRange {
                variable: "HTTP_MAX_CONNECTIONS_PER_WORKER",
                expected: "at least 1".to_owned(),
                value: "0".to_owned(),
            });
        }
        Ok(())
    }

    pub fn request_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.request_timeout_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    /// Comma-separated seed nodes of a Redis Cluster
    /// (`redis://host:port,redis://host:port`). When set, the services talk
    /// to that cluster and `url` is not used; empty (the default) means one
    /// Redis at `url`.
    #[serde(default)]
    pub cluster_urls: String,
    /// Multiplexed connections to Redis; each carries many requests at once.
    pub pool_size: usize,
    /// Bound on connecting, waiting for a pooled connection and each reply,
    /// so a dead Redis turns into a quick 503 rather than a hung request.
    pub timeout_ms: u64,
    /// Namespace in front of every key; see `shared::queue::KeySpace`.
    #[serde(default)]
    pub key_prefix: String,
}

impl RedisSettings {
    /// The cluster's seed nodes; empty when the services use one Redis.
    pub fn cluster_nodes(&self) -> Vec<&str> {
        self.cluster_urls
            .split(',')
            .map(str::trim)
            .filter(|node| !node.is_empty())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// Secrets as read; [`SecretSettings::require`] turns them into [`Secrets`].
#[derive(Debug, Clone, Deserialize, Default)]
pub struct SecretSettings {
    pub queue_token_secret: Option<SecretString>,
    pub admin_api_key: Option<SecretString>,
}

/// The secrets a service cannot start without. `Debug` never prints them.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub queue_token_secret: SecretString,
    pub admin_api_key: SecretString,
}

impl SecretSettings {
    pub fn require(&self) -> Result<Secrets, SettingsError> {
        Ok(Secrets {
            queue_token_secret: required(&self.queue_token_secret, "QUEUE_TOKEN_SECRET")?,
            admin_api_key: required(&self.admin_api_key, "ADMIN_API_KEY")?,
        })
    }
}

fn required(
    value: &Option<SecretString>,
    variable: &'static str,
) -> Result<SecretString, SettingsError> {
    match value {
        None => Err(SettingsError::MissingSecret { variable }),
        Some(secret) if secret.expose_secret().is_empty() => {
            Err(SettingsError::MissingSecret { variable })
        }
        Some(secret) if secret.expose_secret().len() < MIN_SECRET_LEN => {
            Err(SettingsError::WeakSecret { variable })
        }
        Some(secret) => Ok(secret.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Probe {
        http: HttpSettings,
        redis: RedisSettings,
        #[serde(default)]
        secrets: SecretSettings,
        log: LogSettings,
    }

    fn load_probe(pairs: &[(&str, &str)]) -> Result<Probe, SettingsError> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(&env, |b| b.set_default("http.port", 8081))
    }

    #[test]
    fn defaults_apply_without_environment() {
        let probe = load_probe(&[]).unwrap();
        assert_eq!(probe.http.port, 8081);
        assert_eq!(probe.http.bind_addr, "127.0.0.1");
        assert_eq!(probe.redis.url, "redis://127.0.0.1:6379");
        assert_eq!(probe.log.format, LogFormat::Pretty);
    }

    #[test]
    fn plain_names_override_prefixed_ones() {
        let probe = load_probe(&[
            ("APP__HTTP__PORT", "9000"),
            ("PORT", "9100"),
            ("APP__REDIS__POOL_SIZE", "7"),
            ("REDIS_URL", "redis://cache:6379"),
            ("LOG_FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(probe.http.port, 9100);
        assert_eq!(probe.redis.pool_size, 7);
        assert_eq!(probe.redis.url, "redis://cache:6379");
        assert_eq!(probe.log.format, LogFormat::Json);
    }

    #[test]
    fn a_cluster_is_opt_in_and_read_from_either_name() {
        let single = load_probe(&[]).unwrap();
        assert!(single.redis.cluster_nodes().is_empty());
        let blank = load_probe(&[("REDIS_CLUSTER_URLS", " , ")]).unwrap();
        assert!(
            blank.redis.cluster_nodes().is_empty(),
            "blank means no cluster"
        );

        let plain = load_probe(&[(
            "REDIS_CLUSTER_URLS",
            "redis://10.0.0.1:7000, redis://10.0.0.2:7000,",
        )])
        .unwrap();
        assert_eq!(
            plain.redis.cluster_nodes(),
            ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]
        );
        let prefixed = load_probe(&[(
            "APP__REDIS__CLUSTER_URLS",
            "redis://10.0.0.3:7000,redis://10.0.0.4:7000",
        )])
        .unwrap();
        assert_eq!(
            prefixed.redis.cluster_nodes(),
            ["redis://10.0.0.3:7000", "redis://10.0.0.4:7000"]
        );
    }

    #[test]
    fn missing_secret_names_the_variable() {
        let probe = load_probe(&[("ADMIN_API_KEY", "admin-key-0123456789")]).unwrap();
        let err = probe.secrets.require().unwrap_err();
        assert!(err.to_string().contains("QUEUE_TOKEN_SECRET"), "{err}");
    }

    #[test]
    fn short_secret_is_refused() {
        let probe = load_probe(&[
            ("QUEUE_TOKEN_SECRET", "short"),
            ("ADMIN_API_KEY", "admin-key-0123456789"),
        ])
        .unwrap();
        assert!(matches!(
            probe.secrets.require(),
            Err(SettingsError::WeakSecret {
                variable: "QUEUE_TOKEN_SECRET"
            })
        ));
    }

    #[test]
    fn secrets_never_print() {
        let probe = load_probe(&[
            ("QUEUE_TOKEN_SECRET", "token-secret-0123456789"),
            ("ADMIN_API_KEY", "admin-key-0123456789"),
        ])
        .unwrap();
        let secrets = probe.secrets.require().unwrap();
        let printed = format!("{secrets:?} {probe:?}");
        assert!(!printed.contains("token-secret-0123456789"), "{printed}");
        assert!(!printed.contains("admin-key-0123456789"), "{printed}");
    }

    #[test]
    fn zero_workers_are_refused_by_name() {
        let probe = load_probe(&[("HTTP_WORKERS", "0")]).unwrap();
        let err = probe.http.validate().unwrap_err();
        assert!(err.to_string().contains("HTTP_WORKERS"), "{err}");
        assert!(load_probe(&[]).unwrap().http.validate().is_ok());
    }

    #[test]
    fn a_bad_number_is_a_clear_error() {
        let err = load_probe(&[("PORT", "eighty")]).unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }
}
