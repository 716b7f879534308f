//! One YAML document per config. A file with a second document (after a `---` line, or after the
//! `...` that ends the first) is refused at the line where that document begins; the YAML
//! crate's own message names neither the line nor what to do.

use serde::Deserialize as _;

use super::error::ConfigError;

/// `Err` at the line where the second document begins when `text` holds more than one. A syntax
/// error is left to the real parse, which reports it with its position.
pub(super) fn check(path: &std::path::Path, text: &str) -> Result<(), ConfigError> {
    let mut documents = serde_norway::Deserializer::from_str(text);
    // A broken document fails here (and would be offered again): only whole documents count.
    let mut whole = || {
        documents
            .next()
            .is_some_and(|document| serde::de::IgnoredAny::deserialize(document).is_ok())
    };
    if !(whole() && whole()) {
        return Ok(());
    }
    let line = second_document_line(text);
    Err(ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column: line.map(|_| 1),
        message: format!(
            "a second YAML document starts {}; a config is one document: remove the `---` (or `...`) that separates them and merge the two, or delete the extra one",
            if line.is_some() {
                "here"
            } else {
                "in this file"
            }
        ),
    })
}

/// The 1-based line where the second document begins: a `---` marker once a document has
/// begun, or anything but a comment after the `...` that ended the first. Markers sit at the
/// start of a line; an indented `---` is text inside a value.
fn second_document_line(text: &str) -> Option<usize> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut open = false;
    let mut ended = false;
    for (index, line) in text.lines().enumerate() {
        let marker = |marker: &str| {
            line.strip_prefix(marker)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        let trimmed = line.trim_start();
        let comment = trimmed.is_empty() || trimmed.starts_with('#');
        if marker("...") {
            ended |= open;
            open = false;
        } else if ended && !comment {
            return Some(index + 1);
        } else if marker("---") {
            if open {
                return Some(index + 1);
            }
            open = true;
        } else if !comment && !line.starts_with('%') {
            open = true;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn finds_where_the_second_document_begins() {
        for (text, line) in [
            ("a: 1\n---\nb: 2\n", Some(2)),
            ("---\na: 1\n---\nb: 2\n", Some(3)),
            ("# head\n%YAML 1.2\n---\na: 1\n--- # two\nb: 2\n", Some(5)),
            ("a: 1\n...\n# done\nb: 2\n", Some(4)),
            ("a: 1\n...\n---\nb: 2\n", Some(3)),
            ("a: 1\r\n---\r\nb: 2\r\n", Some(2)),
            ("\u{feff}---\na: 1\n---\n", Some(3)),
            ("a: 1\n...\n", None),
            ("---\na: |\n  ---\n  text\n", None),
            ("a: ---\nb: '--- x'\n", None),
        ] {
            assert_eq!(second_document_line(text), line, "{text:?}");
        }
    }

    #[test]
    fn two_documents_are_refused_at_the_second() {
        let path = Path::new("c.yaml");
        let error = check(path, "a: 1\n\n---\nb: 2\n").map_err(|e| e.to_string());
        let message = error.expect_err("two documents");
        assert!(
            message.starts_with("c.yaml:3:1: a second YAML document starts here"),
            "{message}"
        );
        let trailing = check(path, "a: 1\n---\n").map_err(|e| e.to_string());
        assert!(trailing.is_err_and(|m| m.starts_with("c.yaml:2:1:")));
        for one in ["a: 1\n", "---\na: 1\n...\n", "", "a: [\n---\nb: 1\n"] {
            assert!(check(path, one).is_ok(), "{one:?}");
        }
    }
}
