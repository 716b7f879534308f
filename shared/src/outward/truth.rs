//! `autobench truth`: one [`TruthLine`] per (scenario, candidate) on stdout, the simulator's true
//! SLA-limited rate that the verdict benchmark compares a search's answer with.

use serde::{Deserialize, Serialize};

use crate::flags::FlagMap;

/// A candidate's true rate in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthLine {
    /// The scenario's name.
    pub scenario: String,
    /// The candidate's number (0 is the baseline).
    pub candidate: usize,
    /// Its flags.
    pub flags: FlagMap,
    /// The highest rate at which it meets the SLA (`None`: not even the lowest rate searched, or
    /// the simulator could not model it).
    pub rate: Option<f64>,
    /// Why the simulator could not model it (out of memory, a flag it does not take).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_names_it_and_a_rate_line_does_not() {
        let line = |rate, error: Option<&str>| TruthLine {
            scenario: "chat".into(),
            candidate: 1,
            flags: FlagMap::default(),
            rate,
            error: error.map(str::to_string),
        };
        assert_eq!(
            serde_json::to_string(&line(Some(4.5), None)).expect("json"),
            r#"{"scenario":"chat","candidate":1,"flags":{},"rate":4.5}"#
        );
        let failed = serde_json::to_string(&line(None, Some("out of memory"))).expect("json");
        assert_eq!(
            failed,
            r#"{"scenario":"chat","candidate":1,"flags":{},"rate":null,"error":"out of memory"}"#
        );
        let back: TruthLine = serde_json::from_str(&failed).expect("read");
        assert_eq!(back.error.as_deref(), Some("out of memory"));
    }
}
