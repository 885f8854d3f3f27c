//! Queue-service settings; see `shared::config` for the layering.

use std::collections::HashMap;

use serde::Deserialize;
use shared::config::{HttpSettings, LogSettings, RedisSettings, SecretSettings, SettingsError};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub redis: RedisSettings,
    #[serde(default)]
    pub secrets: SecretSettings,
    pub scheduler: SchedulerSettings,
    pub log: LogSettings,
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

impl Settings {
    pub fn load(env: &HashMap<String, String>) -> Result<Self, SettingsError> {
        shared::config::load(env, |builder| {
            builder
                .set_default("http.port", 8081)?
                .set_default("scheduler.enabled", true)?
                .set_default("scheduler.tick_ms", 1000)?
                .set_default("scheduler.eviction_batch", 10_000)
        })
    }
}
