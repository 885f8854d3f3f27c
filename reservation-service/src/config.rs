//! The reservation service's settings, layered by [`shared::config::load`]:
//! built-in defaults, then `CONFIG_FILE`, then `APP__SECTION__KEY`, then the
//! plain names (`PORT`, `DATABASE_URL`, `HOLD_TTL_SECONDS`, ...).

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use shared::auth::AuthSettings;
use shared::config::{HttpSettings, LogSettings, RedisSettings, SecretSettings, SettingsError};

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
    pub log: LogSettings,
}

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
                .set_default("idempotency.purge_batch", 1000)
        })?;
        settings.holds.validate()?;
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
        assert_eq!(
            settings.database.url.expose_secret(),
            "mysql://root@127.0.0.1:3306/concert"
        );
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
