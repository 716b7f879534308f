//! Tokenizer loading (a local directory holding `tokenizer.json`, or the file itself) and token
//! counting for dataset preparation.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use super::DatasetError;

/// Loads a tokenizer from a directory containing `tokenizer.json` or from the file itself.
pub fn load_tokenizer(name: &str) -> Result<Tokenizer, DatasetError> {
    let path = tokenizer_file(name).ok_or_else(|| DatasetError::Tokenizer {
        name: name.to_string(),
        message: "not found: expected a local directory containing tokenizer.json, or the path of a tokenizer.json file \
                  (download the model's tokenizer first; hub ids are not fetched automatically yet)"
            .to_string(),
    })?;
    Tokenizer::from_file(&path).map_err(|e| DatasetError::Tokenizer {
        name: path.display().to_string(),
        message: e.to_string(),
    })
}

fn tokenizer_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let inside = path.join("tokenizer.json");
    inside.is_file().then_some(inside)
}

/// Counts tokens of text, without special tokens.
pub trait TokenCounter {
    /// Number of tokens in `text`.
    fn count(&self, text: &str) -> Result<usize, DatasetError>;
}

impl TokenCounter for Tokenizer {
    fn count(&self, text: &str) -> Result<usize, DatasetError> {
        self.encode(text, false)
            .map(|e| e.get_ids().len())
            .map_err(|e| DatasetError::Tokenizer {
                name: "tokenizer".into(),
                message: e.to_string(),
            })
    }
}
