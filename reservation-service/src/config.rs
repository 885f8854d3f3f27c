//! The reservation service's settings, layered by [`shared::config::load`]:
//! built-in defaults, then `CONFIG_FILE`, then `APP__SECTION__KEY`, then the
//! plain names (`PORT`, `DATABASE_URL`, `HOLD_TTL_SECONDS`, ...).

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use shared::auth::AuthSettings;
use shared::config::{HttpSettings, LogSettings, RedisSettings, SecretSettings, SettingsError};
use shared::origin::{HEALTH_MAX_AGE_MS, SEATS_TTL_MS};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub redis: RedisSettings,
    pub database: DatabaseSettings,
    /// Optional here so a missing secret is reported by name at start-up
    /// (see [`SecretSettings::require`]) rather than as a parse error.
    #[serde(default)]
    pub secrets: SecretSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    pub holds: HoldSettings,
    pub balance: BalanceSettings,
    pub idempotency: IdempotencySettings,
    pub seats_feed: SeatsFeedSettings,
    pub origin_health: OriginHealthSettings,
    pub log: LogSettings,
}

/// The most either origin worker may wait between two writes: the seat
/// counts expire after [`SEATS_TTL_MS`] and a health sample is ignored
/// after [`HEALTH_MAX_AGE_MS`], so a period of at most a third of the
/// shorter survives two missed rounds (1 s at the shared 3 s).
const MAX_ORIGIN_PERIOD_MS: u64 = {
    let health = HEALTH_MAX_AGE_MS as u64;
    let shorter = if health < SEATS_TTL_MS {
        health
    } else {
        SEATS_TTL_MS
    };
    shorter / 3
};
/// Below this the workers would cost more than the figures are worth.
const MIN_ORIGIN_PERIOD_MS: u64 = 50;

/// The seat counts the queue's scheduler admits by (see `seats_feed`).
#[derive(Debug, Clone, Deserialize)]
pub struct SeatsFeedSettings {
    /// How often the replica holding the feed lease counts and writes.
    pub interval_ms: u64,
}

impl SeatsFeedSettings {
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
}

/// This replica's health sample for the queue's scheduler (see `origin_health`).
#[derive(Debug, Clone, Deserialize)]
pub struct OriginHealthSettings {
    /// How often the sample is published.
    pub interval_ms: u64,
}

impl OriginHealthSettings {
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
}

fn validate_origin_period(variable: &'static str, value: u64) -> Result<(), SettingsError> {
    if (MIN_ORIGIN_PERIOD_MS..=MAX_ORIGIN_PERIOD_MS).contains(&value) {
        Ok(())
    } else {
        Err(SettingsError::OutOfRange {
            variable,
            expected: format!("between {MIN_ORIGIN_PERIOD_MS} and {MAX_ORIGIN_PERIOD_MS} ms"),
            value: value.to_string(),
        })
    }
}

/// Plain names of this service's own settings, beside the common ones in
/// `shared::config` (which both services share); overrides, like those.
const PLAIN_ENV_NAMES: &[(&str, &str)] = &[
    ("SEATS_FEED_INTERVAL_MS", "seats_feed.interval_ms"),
    ("ORIGIN_HEALTH_INTERVAL_MS", "origin_health.interval_ms"),
];

/// How long idempotency records are kept. A retry with the same key within
/// the retention gets the first answer back; after it, the key is free
/// again, and a request that would take effect twice is still refused by
/// the ledger's unique (user, key) (422 `IDEMPOTENCY_KEY_REUSED`).
#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencySettings {
    pub retention_hours: u64,
    pub purge_interval_ms: u64,
    /// Rows per purge statement, so one purge never locks a large range.
    pub purge_batch: u32,
}

impl IdempotencySettings {
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_hours.saturating_mul(3600))
    }

    pub fn purge_interval(&self) -> Duration {
        Duration::from_millis(self.purge_interval_ms.max(1))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `mysql://user:pass@host:port/db`; secret because it may carry a password.
    pub url: SecretString,
    pub pool_size: u32,
    /// Bound on waiting for a pooled connection (and on connecting), so a
    /// dead database turns into a quick 503 rather than a hung request.
    pub acquire_timeout_ms: u64,
}

impl DatabaseSettings {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct HoldSettings {
    /// How long a seat hold lasts before anyone else may take the seat.
    pub ttl_seconds: u64,
    /// How often the expiry worker returns expired holds to sale.
    pub sweep_interval_ms: u64,
    /// Rows per expiry statement, so one sweep never locks a huge range.
    pub sweep_batch: u32,
}

/// A hold keeps a seat from everyone else; beyond a day it is a
/// misconfiguration, not a hold (and `now + ttl` must stay representable).
const MAX_HOLD_TTL_SECONDS: u64 = 86_400;

impl HoldSettings {
    /// Refuses a hold lifetime no buyer could pay within (0) or an absurd one.
    fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=MAX_HOLD_TTL_SECONDS).contains(&self.ttl_seconds) {
            return Err(SettingsError::OutOfRange {
                variable: "HOLD_TTL_SECONDS",
                expected: format!("between 1 and {MAX_HOLD_TTL_SECONDS} seconds"),
                value: self.ttl_seconds.to_string(),
            });
        }
        Ok(())
    }

    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds)
    }

    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.sweep_interval_ms.max(1))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct BalanceSettings {
    /// Largest single top-up, in the smallest currency unit.
    pub max_charge_amount: i64,
}

impl Settings {
    pub fn load(env: &HashMap<String, String>) -> Result<Settings, SettingsError> {
        let settings: Settings = shared::config::load(env, |builder| {
            let builder =
                PLAIN_ENV_NAMES
                    .iter()
                    .try_fold(builder, |builder, (variable, key)| {
                        builder.set_override_option(*key, env.get(*variable).cloned())
                    })?;
            builder
                .set_default("http.port", 8082)?
                .set_default("database.url", "mysql://root@127.0.0.1:3306/concert")?
                .set_default("database.pool_size", 32)?
                .set_default("database.acquire_timeout_ms", 2000)?
                .set_default("holds.ttl_seconds", 300)?
                .set_default("holds.sweep_interval_ms", 1000)?
                .set_default("holds.sweep_batch", 500)?
                .set_default("balance.max_charge_amount", 10_000_000)?
                .set_default("idempotency.retention_hours", 24 * 7)?
                .set_default("idempotency.purge_interval_ms", 60_000)?
                .set_default("idempotency.purge_batch", 1000)?
                .set_default("seats_feed.interval_ms", 500)?
                .set_default("origin_health.interval_ms", 1000)
        })?;
        settings.holds.validate()?;
        validate_origin_period("SEATS_FEED_INTERVAL_MS", settings.seats_feed.interval_ms)?;
        validate_origin_period(
            "ORIGIN_HEALTH_INTERVAL_MS",
            settings.origin_health.interval_ms,
        )?;
        if !(1..=24 * 365).contains(&settings.idempotency.retention_hours) {
            return Err(SettingsError::OutOfRange {
                variable: "IDEMPOTENCY_RETENTION_HOURS",
                expected: "between 1 and 8760 hours".to_owned(),
                value: settings.idempotency.retention_hours.to_string(),
            });
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Settings {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load(&env).unwrap()
    }

    #[test]
    fn defaults_match_the_design() {
        let settings = load(&[]);
        assert_eq!(settings.http.port, 8082);
        assert_eq!(settings.holds.ttl_seconds, 300);
        assert_eq!(settings.holds.sweep_interval_ms, 1000);
        assert_eq!(settings.holds.sweep_batch, 500);
        assert_eq!(settings.balance.max_charge_amount, 10_000_000);
        assert_eq!(settings.seats_feed.interval_ms, 500);
        assert_eq!(settings.origin_health.interval_ms, 1000);
        assert_eq!(
            settings.database.url.expose_secret(),
            "mysql://root@127.0.0.1:3306/concert"
        );
    }

    #[test]
    fn origin_periods_are_set_by_plain_names_over_prefixed_ones() {
        let settings = load(&[
            ("APP__SEATS_FEED__INTERVAL_MS", "700"),
            ("SEATS_FEED_INTERVAL_MS", "250"),
            ("APP__ORIGIN_HEALTH__INTERVAL_MS", "300"),
        ]);
        assert_eq!(settings.seats_feed.interval_ms, 250);
        assert_eq!(settings.origin_health.interval_ms, 300);
    }

    #[test]
    fn origin_periods_that_outlast_what_they_write_are_refused_by_name() {
        for variable in ["SEATS_FEED_INTERVAL_MS", "ORIGIN_HEALTH_INTERVAL_MS"] {
            for bad in ["0", "49", "1001", "3000"] {
                let env = HashMap::from([(variable.to_owned(), bad.to_owned())]);
                let err = Settings::load(&env).expect_err(bad);
                assert!(err.to_string().contains(variable), "{bad}: {err}");
            }
        }
    }

    #[test]
    fn plain_names_are_honoured() {
        let settings = load(&[
            ("PORT", "9000"),
            ("DATABASE_URL", "mysql://app:pw@db:3306/tickets"),
            ("DATABASE_POOL_SIZE", "8"),
            ("HOLD_TTL_SECONDS", "60"),
            ("APP__HOLDS__SWEEP_BATCH", "50"),
        ]);
        assert_eq!(settings.http.port, 9000);
        assert_eq!(settings.database.pool_size, 8);
        assert_eq!(settings.holds.ttl_seconds, 60);
        assert_eq!(settings.holds.sweep_batch, 50);
        assert_eq!(
            settings.database.url.expose_secret(),
            "mysql://app:pw@db:3306/tickets"
        );
    }

    #[test]
    fn hold_lifetimes_out_of_range_are_refused_by_name() {
        for bad in ["0", "86401", "18446744073709551615"] {
            let env = HashMap::from([("HOLD_TTL_SECONDS".to_owned(), bad.to_owned())]);
            let err = Settings::load(&env).expect_err(bad);
            assert!(err.to_string().contains("HOLD_TTL_SECONDS"), "{bad}: {err}");
        }
        assert_eq!(
            load(&[("HOLD_TTL_SECONDS", "86400")]).holds.ttl_seconds,
            86_400
        );
    }

    #[test]
    fn missing_secrets_are_named() {
        let settings = load(&[("QUEUE_TOKEN_SECRET", "a-long-enough-secret-value")]);
        let err = settings.secrets.require().unwrap_err();
        assert!(err.to_string().contains("ADMIN_API_KEY"), "{err}");
    }

    #[test]
    fn the_database_url_never_prints() {
        let settings = load(&[("DATABASE_URL", "mysql://app:hunter2-secret@db/x")]);
        assert!(!format!("{settings:?}").contains("hunter2-secret"));
    }
}
