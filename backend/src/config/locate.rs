//! Where a key path is written in a YAML config, from the event parser's own positions
//! (`yaml-rust2`): quoted keys (`"qps":`), flow mappings (`qps: {lower: 1}`) and keys inside list
//! items are found where they are written. The line walker it replaced matched `key:` at the start
//! of a line, so it pointed at the parent line for a quoted key or a key inside `{...}`. A key
//! that is not written out is reported at its deepest written parent.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// The 1-based (line, column) where the deepest written prefix of `key_path` starts; `None`
/// when not even its first key is written (or the YAML does not parse that far).
pub(super) fn locate(source: &str, key_path: &[&str]) -> Option<(usize, usize)> {
    let mut walk = Walk {
        target: key_path,
        stack: Vec::new(),
        found: None,
    };
    // A syntax error ends the walk; the keys found before it still count.
    let _ = Parser::new_from_str(source).load(&mut walk, true);
    walk.found.map(|(_, line, column)| (line, column))
}

/// One open container while walking the events.
enum Frame {
    /// A mapping, with its current key and whether the next scalar is a key.
    Map {
        key: Option<String>,
        awaiting_key: bool,
    },
    /// A sequence: its items add nothing to the key path.
    Seq,
}

struct Walk<'a> {
    target: &'a [&'a str],
    stack: Vec<Frame>,
    /// The deepest match so far: (depth, line, column).
    found: Option<(usize, usize, usize)>,
}

impl Walk<'_> {
    /// The key path of the mapping at the top of the stack.
    fn outer_keys(&self) -> Vec<&str> {
        let below = self.stack.len().saturating_sub(1);
        self.stack[..below]
            .iter()
            .filter_map(|frame| match frame {
                Frame::Map { key, .. } => key.as_deref(),
                Frame::Seq => None,
            })
            .collect()
    }

    /// A key was read at `mark`: record it when its path is a prefix of the target.
    fn key(&mut self, name: &str, mark: Marker) {
        let mut path = self.outer_keys();
        path.push(name);
        let matches =
            path.len() <= self.target.len() && path.iter().zip(self.target).all(|(a, b)| a == b);
        let deeper = self.found.is_none_or(|(depth, ..)| path.len() > depth);
        if matches && deeper {
            self.found = Some((path.len(), mark.line(), mark.col() + 1));
        }
    }

    /// A value (scalar or container) ended in the mapping at the top: its next scalar is a key.
    fn value_done(&mut self) {
        if let Some(Frame::Map { awaiting_key, .. }) = self.stack.last_mut() {
            *awaiting_key = true;
        }
    }
}

impl MarkedEventReceiver for Walk<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::MappingStart(..) => {
                self.stack.push(Frame::Map {
                    key: None,
                    awaiting_key: true,
                });
            }
            Event::SequenceStart(..) => self.stack.push(Frame::Seq),
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            Event::Scalar(text, ..) => {
                let is_key = matches!(
                    self.stack.last(),
                    Some(Frame::Map {
                        awaiting_key: true,
                        ..
                    })
                );
                if is_key {
                    self.key(&text, mark);
                    if let Some(Frame::Map { key, awaiting_key }) = self.stack.last_mut() {
                        *key = Some(text);
                        *awaiting_key = false;
                    }
                } else {
                    self.value_done();
                }
            }
            Event::Alias(_) => self.value_done(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_where_they_are_written() {
        let yaml = "server:\n  port: 1\nbenchmark:\n  qps:\n    lower: 1\n  port: 2\n";
        assert_eq!(locate(yaml, &["benchmark", "port"]), Some((6, 3)));
        assert_eq!(locate(yaml, &["benchmark", "qps", "lower"]), Some((5, 5)));
        assert_eq!(locate(yaml, &["server", "port"]), Some((2, 3)));
        assert_eq!(locate(yaml, &["nothing"]), None);
    }

    #[test]
    fn finds_quoted_keys_and_keys_inside_flow_mappings_and_lists() {
        let yaml = "\"benchmark\":\n  'qps': {lower: 1, upper: 0}\nframeworks:\n  - name: sglang\n    tp: 2\n";
        assert_eq!(locate(yaml, &["benchmark", "qps", "upper"]), Some((2, 21)));
        assert_eq!(locate(yaml, &["benchmark", "qps"]), Some((2, 3)));
        assert_eq!(locate(yaml, &["frameworks", "tp"]), Some((5, 5)));
    }

    #[test]
    fn a_key_not_written_is_reported_at_its_deepest_written_parent() {
        let yaml = "benchmark:\n  sla:\n    max_p99_ttft_ms: 1\n";
        assert_eq!(locate(yaml, &["benchmark", "sla", "missing"]), Some((2, 3)));
        // A syntax error further down does not lose what was found before it.
        let broken = "benchmark:\n  qps: 1\n  sla: [\n";
        assert_eq!(locate(broken, &["benchmark", "qps"]), Some((2, 3)));
    }
}
