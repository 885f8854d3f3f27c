//! Queue-service settings; see `shared::config` for the layering.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use shared::auth::AuthSettings;
use shared::config::{HttpSettings, LogSettings, RedisSettings, SecretSettings, SettingsError};
use shared::ids::QueueId;

use crate::domain::QueueConfig;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub redis: RedisSettings,
    #[serde(default)]
    pub secrets: SecretSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    pub scheduler: SchedulerSettings,
    /// How a new place is acknowledged.
    #[serde(default)]
    pub issue: IssueSettings,
    pub log: LogSettings,
    /// Queues declared in the configuration file (`[queues.<id>]` tables):
    /// created at start-up and re-created whenever Redis has lost them, so
    /// a sale survives a Redis that restarted empty without an admin.
    #[serde(default)]
    pub queues: BTreeMap<String, QueueConfig>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerSettings {
    /// Replicas that only serve requests can turn their scheduler off.
    pub enabled: bool,
    pub tick_ms: u64,
    /// Most users evicted per reason in one tick, bounding a tick's work.
    /// It also caps admissions when buyers never finish: a slot whose window
    /// ran out frees only when swept, so at most this many per tick.
    pub eviction_batch: usize,
}

/// Redis replicates asynchronously: a place acknowledged just before its
/// master dies may be missing on the replica promoted in its stead, and the
/// user's next poll then answers 410 (they join again, at the back). With
/// `wait_replicas` above 0 the issue waits (`WAIT`) until that many
/// replicas have the new place, or `wait_timeout_ms` passed, before it
/// answers. A place the replicas did not confirm in time is still given
/// (it is on the master; refusing it would turn a slow replica into an
/// outage): it is counted in `queue_issue_unreplicated_total` and logged.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct IssueSettings {
    /// `ISSUE_WAIT_REPLICAS`: 0 (the default) does not wait.
    pub wait_replicas: u32,
    /// `ISSUE_WAIT_TIMEOUT_MS`: the longest an issue waits for them.
    pub wait_timeout_ms: u64,
}

impl Default for IssueSettings {
    fn default() -> Self {
        Self {
            wait_replicas: 0,
            wait_timeout_ms: 100,
        }
    }
}

impl IssueSettings {
    /// The wait must end well within the Redis time budget, which covers
    /// the issue script and the wait together (a longer one would turn a
    /// slow replica into 503s), and `WAIT n 0` would block for ever.
    pub fn validate(&self, redis: &RedisSettings) -> Result<(), SettingsError> {
        let most = redis.timeout_ms / 2;
        if self.wait_replicas > 0 && !(1..=most).contains(&self.wait_timeout_ms) {
            return Err(SettingsError::OutOfRange {
                variable: "ISSUE_WAIT_TIMEOUT_MS",
                expected: format!(
                    "between 1 and half the Redis time budget (APP__REDIS__TIMEOUT_MS = {}): {most}",
                    redis.timeout_ms
                ),
                value: self.wait_timeout_ms.to_string(),
            });
        }
        Ok(())
    }
}

impl Settings {
    pub fn load(env: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let settings: Self = shared::config::load(env, |builder| {
            builder
                .set_default("http.port", 8081)?
                .set_default("scheduler.enabled", true)?
                .set_default("scheduler.tick_ms", 1000)?
                .set_default("scheduler.eviction_batch", 10_000)
        })?;
        settings.declared_queues()?;
        settings.issue.validate(&settings.redis)?;
        Ok(settings)
    }

    /// The declared queues, checked.
    pub fn declared_queues(&self) -> Result<Vec<(QueueId, QueueConfig)>, SettingsError> {
        self.queues
            .iter()
            .map(|(id, config)| {
                let queue = QueueId::parse(id).map_err(|e| SettingsError::OutOfRange {
                    variable: "queues",
                    expected: e.to_string(),
                    value: id.clone(),
                })?;
                config.validate().map_err(|e| SettingsError::OutOfRange {
                    variable: "queues",
                    expected: format!("valid settings for queue {id}: {e}"),
                    value: format!("{config:?}"),
                })?;
                Ok((queue, *config))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_can_be_declared_in_the_configuration_file() {
        let path = std::env::temp_dir().join(format!("queues-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[queues.tour-2027]\nmax_active = 50\nadmit_per_second = 5\n\
             active_ttl_seconds = 600\nheartbeat_ttl_seconds = 60\n\
             [queues.tour-2027.limits]\nissues_per_minute_per_address = 100\n",
        )
        .unwrap();
        let env = HashMap::from([("CONFIG_FILE".to_owned(), path.to_str().unwrap().to_owned())]);
        let settings = Settings::load(&env);
        std::fs::remove_file(&path).unwrap();
        let declared = settings.unwrap().declared_queues().unwrap();
        assert_eq!(declared.len(), 1);
        let (id, config) = &declared[0];
        assert_eq!(id.as_str(), "tour-2027");
        assert_eq!(config.limits.issues_per_minute_per_address, 100);
        assert_eq!(
            config.limits.issue_burst_per_user, 3,
            "defaults fill the rest"
        );
    }

    #[test]
    fn waiting_for_replicas_is_off_by_default_and_bounded_by_the_redis_budget() {
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let default = Settings::load(&env(&[])).unwrap();
        assert_eq!(default.issue.wait_replicas, 0, "off by default");

        let on = Settings::load(&env(&[
            ("ISSUE_WAIT_REPLICAS", "1"),
            ("ISSUE_WAIT_TIMEOUT_MS", "50"),
        ]))
        .unwrap();
        assert_eq!((on.issue.wait_replicas, on.issue.wait_timeout_ms), (1, 50));

        for timeout in ["0", "501"] {
            let err = Settings::load(&env(&[
                ("ISSUE_WAIT_REPLICAS", "1"),
                ("ISSUE_WAIT_TIMEOUT_MS", timeout),
            ]))
            .unwrap_err();
            assert!(err.to_string().contains("ISSUE_WAIT_TIMEOUT_MS"), "{err}");
        }
        let longer_budget = Settings::load(&env(&[
            ("ISSUE_WAIT_REPLICAS", "1"),
            ("ISSUE_WAIT_TIMEOUT_MS", "1500"),
            ("APP__REDIS__TIMEOUT_MS", "3000"),
        ]));
        assert!(longer_budget.is_ok(), "{:?}", longer_budget.err());
    }

    #[test]
    fn a_declared_queue_with_bad_settings_stops_the_start() {
        let path = std::env::temp_dir().join(format!("bad-queues-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[queues.q]\nmax_active = 0\nadmit_per_second = 5\n\
             active_ttl_seconds = 600\nheartbeat_ttl_seconds = 60\n",
        )
        .unwrap();
        let env = HashMap::from([("CONFIG_FILE".to_owned(), path.to_str().unwrap().to_owned())]);
        let err = Settings::load(&env).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.to_string().contains("max_active"), "{err}");
    }
}
