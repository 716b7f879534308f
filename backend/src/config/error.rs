//! Config errors that name the file, the line and column, the key, and what was expected, with a
//! did-you-mean hint for misspelt keys.

use std::path::{Path, PathBuf};

pub(crate) use shared::kinds::closest;

/// A problem with a config file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        /// The config path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed or a value has the wrong type or an unknown key.
    #[error("{}{}: {message}", path.display(), position(*line, *column))]
    Invalid {
        /// The config path.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong and what was expected.
        message: String,
    },
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    }
}

impl ConfigError {
    /// An error about `key_path` (e.g. `["benchmark", "qps"]`), located in `source` when possible.
    pub(crate) fn at_key<K: AsRef<str>>(
        path: &Path,
        source: &str,
        key_path: &[K],
        message: impl Into<String>,
    ) -> Self {
        let key_path: Vec<&str> = key_path.iter().map(AsRef::as_ref).collect();
        let at = super::locate::locate(source, &key_path);
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line: at.map(|(line, _)| line),
            column: at.map(|(_, column)| column),
            message: format!("{}: {}", key_path.join("."), message.into()),
        }
    }

    /// Converts a YAML deserialisation error, adding a did-you-mean hint for unknown keys.
    pub(crate) fn from_yaml(path: &Path, error: &serde_norway::Error) -> Self {
        let location = error.location();
        let mut message = error.to_string();
        if let Some(index) = message.rfind(" at line ") {
            message.truncate(index);
        }
        if let Some(hint) = did_you_mean_for(&message) {
            message.push_str(&format!("; did you mean `{hint}`?"));
        }
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line: location.as_ref().map(serde_norway::Location::line),
            column: location.as_ref().map(serde_norway::Location::column),
            message,
        }
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a` or `b`"), the
/// closest expected name, if it is close enough to be a typo.
fn did_you_mean_for(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    closest(unknown, &candidates).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        let message =
            "server: unknown field `serch_space`, expected one of `launch`, `search_space`, `env`";
        assert_eq!(did_you_mean_for(message).as_deref(), Some("search_space"));
        let far = "unknown field `zzzzzz`, expected `launch` or `env`";
        assert_eq!(did_you_mean_for(far), None);
    }
}
