//! `run_meta.json`: what the results in a run directory were measured with (so a resume with a
//! changed config or dataset is refused instead of mixing results), the SLA they were judged
//! against, and which process writes the run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sla::Sla;

/// Layout version of `run_meta.json`.
pub const META_VERSION: u32 = 1;

/// The process that writes a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    /// Its process id.
    pub pid: u32,
    /// The host it runs on.
    pub host: String,
}

/// The contents of `run_meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// Layout version.
    #[serde(default)]
    pub schema_version: u32,
    /// The settings that change measured numbers, as a snapshot compared key by key on resume
    /// (see [`changed_settings`]).
    #[serde(default)]
    pub settings: Value,
    /// Fingerprint of each scenario's prepared dataset, by scenario slug.
    #[serde(default)]
    pub datasets: BTreeMap<String, String>,
    /// The SLA the verdicts were judged against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<Sla>,
    /// The autobench version that wrote it.
    #[serde(default)]
    pub autobench_version: String,
    /// The writing process (absent in older folders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessRef>,
}

/// The top-level sections (and keys within object sections) whose values differ, as
/// `section.key`.
pub fn changed_settings(stored: &Value, current: &Value) -> Vec<String> {
    let mut changed = Vec::new();
    if let (Some(a), Some(b)) = (stored.as_object(), current.as_object()) {
        for (section, value) in b {
            match (a.get(section), value) {
                (Some(Value::Object(old)), Value::Object(new)) => {
                    for (key, v) in new {
                        if old.get(key) != Some(v) {
                            changed.push(format!("{section}.{key}"));
                        }
                    }
                }
                (old, new) if old != Some(new) => changed.push(section.clone()),
                _ => {}
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn older_meta_files_still_read() {
        let meta: RunMeta = serde_json::from_value(json!({
            "schema_version": 1, "settings": {"server": {"launch": true}},
            "datasets": {"chat": "abc"}, "process": {"pid": 7, "host": "h"}
        }))
        .expect("meta");
        assert_eq!(meta.process.map(|p| p.pid), Some(7));
        assert_eq!(meta.datasets["chat"], "abc");
    }

    #[test]
    fn changed_settings_name_the_keys() {
        let old = json!({"server": {"launch": true, "env": {}}, "dataset": "a"});
        let new = json!({"server": {"launch": false, "env": {}}, "dataset": "b"});
        assert_eq!(changed_settings(&old, &new), ["server.launch", "dataset"]);
    }
}
