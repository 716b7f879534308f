//! Candidates named by what they change from the default, as command-line flags
//! ([`crate::naming::change`]), from the flags their records carry.

use std::collections::BTreeMap;

use crate::flags::FlagMap;
use crate::naming;
use crate::record::{Stage, TrialRecord};

/// Candidate names of one scenario.
#[derive(Debug, Clone, Default)]
pub struct Names {
    baseline: Option<FlagMap>,
    /// Flags by (speculative stage, candidate id).
    flags: BTreeMap<(bool, usize), FlagMap>,
}

impl Names {
    /// The names of the candidates `records` measured.
    pub fn of(records: &[TrialRecord]) -> Names {
        let mut flags = BTreeMap::new();
        for r in records {
            flags
                .entry((r.stage.speculative(), r.candidate_id))
                .or_insert_with(|| r.server_flags.clone());
        }
        Names {
            baseline: naming::baseline_flags(records),
            flags,
        }
    }

    /// "--max-running-requests 32", "default", or "candidate 3" when its flags or the
    /// baseline's are unknown; a speculative candidate says so.
    pub fn plain(&self, stage: Stage, id: usize) -> String {
        let speculative = stage.speculative();
        let name = match (&self.baseline, self.flags.get(&(speculative, id))) {
            (Some(base), Some(ours)) => naming::change(ours, base),
            _ if id == 0 && !speculative => naming::DEFAULT.to_string(),
            _ => format!("candidate {id}"),
        };
        if speculative {
            format!("speculative: {name}")
        } else {
            name
        }
    }

    /// The command's change from the default without the stage's mark ("--a 1", also for a
    /// speculative candidate).
    pub fn command(&self, stage: Stage, id: usize) -> String {
        let plain = self.plain(stage, id);
        plain
            .strip_prefix("speculative: ")
            .map_or(plain.clone(), str::to_string)
    }

    /// For sentences: "`--max-running-requests 32`", "the default".
    pub fn quoted(&self, stage: Stage, id: usize) -> String {
        match self.plain(stage, id) {
            name if name == naming::DEFAULT => "the default".into(),
            name if name.starts_with("candidate ") => name,
            name => format!("`{name}`"),
        }
    }
}
