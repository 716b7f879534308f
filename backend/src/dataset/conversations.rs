//! Two-turn conversation sources (ShareGPT's JSON array and bench_serving's legacy conversation
//! JSONL) and their conversion into canonical rows, as bench_serving samples them: the first turn is
//! the prompt, the second turn's token length is the output length, rows under 2 tokens either way
//! or over `context_len` are skipped, and the order is a seeded shuffle.
//!
//! The ShareGPT file (about 650 MB, 90,000 conversations) is streamed: each conversation is parsed,
//! reduced to its first two turns, and dropped. To keep memory bounded the shuffle is a random
//! sort key per conversation, and only the conversations with the smallest keys are kept (enough to
//! fill `num_prompts` after filtering); tokenisation runs in parallel on all cores.

use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Value, json};

use super::tokenizer::TokenizerBundle;
use super::{DatasetError, DatasetRow};

/// A prompt and the answer that becomes the output length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TwoTurn {
    /// First turn.
    pub prompt: String,
    /// Second turn (the target completion; never part of the prompt).
    pub completion: String,
}

/// Conversion settings shared by ShareGPT and legacy custom files.
#[derive(Debug, Clone)]
pub(crate) struct SampleOptions {
    /// Rows wanted (0 = all that pass the filters).
    pub num_prompts: u64,
    /// Fixed output length instead of the answer's length.
    pub output_len: Option<u64>,
    /// Drop rows with prompt + output above this.
    pub context_len: Option<u64>,
    /// Appended to every prompt.
    pub prompt_suffix: String,
    /// Shuffle seed (the readers take it as an argument).
    #[expect(
        dead_code,
        reason = "recorded with the options; the shuffle takes the seed as an argument"
    )]
    pub seed: u64,
}

#[derive(Deserialize)]
struct Turn {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Conversation {
    #[serde(default, alias = "conversation")]
    conversations: Vec<Turn>,
}

fn two_turns(conversation: Conversation) -> Option<TwoTurn> {
    let mut turns = conversation
        .conversations
        .into_iter()
        .map(|t| t.value.or(t.content).unwrap_or_default());
    let prompt = turns.next()?;
    let completion = turns.next()?;
    Some(TwoTurn { prompt, completion })
}

/// Keeps the `capacity` conversations with the smallest random keys (a seeded shuffle prefix).
struct Reservoir {
    rng: StdRng,
    heap: BinaryHeap<(u64, usize)>,
    items: Vec<Option<TwoTurn>>,
    capacity: usize,
    seen: usize,
}

impl Reservoir {
    fn new(seed: u64, capacity: usize) -> Self {
        Reservoir {
            rng: StdRng::seed_from_u64(seed),
            heap: BinaryHeap::new(),
            items: Vec::new(),
            capacity,
            seen: 0,
        }
    }

    fn offer(&mut self, item: Option<TwoTurn>) {
        self.offer_with(|| item);
    }

    /// Draws the element's sort key, and only builds the element (`make`, which may parse it)
    /// when it would be kept: most elements of a large file are never parsed.
    fn offer_with(&mut self, make: impl FnOnce() -> Option<TwoTurn>) {
        let key: u64 = self.rng.random();
        self.seen += 1;
        let full = self.heap.len() >= self.capacity;
        if full && self.heap.peek().is_none_or(|&(largest, _)| key >= largest) {
            return;
        }
        let Some(item) = make() else { return };
        if !full {
            self.heap.push((key, self.items.len()));
            self.items.push(Some(item));
        } else if let Some((_, slot)) = self.heap.pop() {
            self.items[slot] = Some(item);
            self.heap.push((key, slot));
        }
    }

    fn into_shuffled(mut self) -> Vec<TwoTurn> {
        let mut keyed: Vec<(u64, usize)> = self.heap.into_vec();
        keyed.sort_unstable();
        keyed
            .into_iter()
            .filter_map(|(_, slot)| self.items[slot].take())
            .collect()
    }
}

/// How many conversations to keep so that `wanted` rows survive filtering.
fn keep_for(wanted: u64) -> usize {
    if wanted == 0 {
        usize::MAX
    } else {
        usize::try_from(wanted.saturating_mul(2).saturating_add(1000)).unwrap_or(usize::MAX)
    }
}

/// Streams a ShareGPT JSON array and returns a seeded shuffle of its two-turn conversations.
///
/// The file is read in blocks and split into top-level array elements by a byte scanner (string
/// and escape aware); an element is parsed only when the shuffle keeps it.
pub(crate) fn read_sharegpt(
    path: &Path,
    wanted: u64,
    seed: u64,
) -> Result<Vec<TwoTurn>, DatasetError> {
    let file = std::fs::File::open(path).map_err(DatasetError::io(path))?;
    let mut reservoir = Reservoir::new(seed, keep_for(wanted));
    let mut scanner = ElementScanner::default();
    let mut reader = BufReader::with_capacity(1 << 22, file);
    let mut parse_error: Option<String> = None;
    loop {
        let block = reader.fill_buf().map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if block.is_empty() {
            break;
        }
        let len = block.len();
        scanner.feed(block, &mut |element| {
            reservoir.offer_with(|| match serde_json::from_slice::<Conversation>(element) {
                Ok(conversation) => two_turns(conversation),
                Err(e) => {
                    parse_error.get_or_insert_with(|| e.to_string());
                    None
                }
            });
        });
        reader.consume(len);
        if let Some(message) = scanner.error.take() {
            return Err(DatasetError::Other(format!(
                "{}: not a ShareGPT JSON array near byte {}: {message}",
                path.display(),
                scanner.offset
            )));
        }
    }
    if !scanner.finished() {
        return Err(DatasetError::Other(format!(
            "{}: not a ShareGPT JSON array (expected [ ... ] of conversation objects)",
            path.display()
        )));
    }
    if reservoir.seen > 0
        && reservoir.heap.is_empty()
        && let Some(message) = parse_error
    {
        return Err(DatasetError::Other(format!(
            "{}: no usable conversation ({message})",
            path.display()
        )));
    }
    Ok(reservoir.into_shuffled())
}

/// Splits a JSON array into its top-level elements across buffer boundaries. String contents
/// (the bulk of the file) are skipped with `memchr`; an element is copied only when it spans two
/// blocks.
#[derive(Default)]
struct ElementScanner {
    started: bool,
    closed: bool,
    depth: u32,
    in_string: bool,
    escaped: bool,
    carry: Vec<u8>,
    offset: usize,
    error: Option<String>,
}

impl ElementScanner {
    fn finished(&self) -> bool {
        self.closed
    }

    fn feed(&mut self, block: &[u8], emit: &mut impl FnMut(&[u8])) {
        let mut i = 0;
        // Start of the current element within this block (None: it began in an earlier block).
        let mut start: Option<usize> = None;
        while i < block.len() && self.error.is_none() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &block[i..]) {
                    Some(at) => {
                        i += at;
                        if block[i] == b'\\' {
                            self.escaped = true;
                        } else {
                            self.in_string = false;
                        }
                        i += 1;
                    }
                    None => i = block.len(),
                }
                continue;
            }
            let byte = block[i];
            if self.closed {
                if !byte.is_ascii_whitespace() {
                    self.error = Some("data after the closing ]".into());
                }
            } else if !self.started {
                match byte {
                    b'[' => self.started = true,
                    b if b.is_ascii_whitespace() => {}
                    _ => self.error = Some("the file does not start with [".into()),
                }
            } else {
                match byte {
                    b'"' if self.depth > 0 => self.in_string = true,
                    b'{' | b'[' => {
                        if self.depth == 0 {
                            start = Some(i);
                            self.carry.clear();
                        }
                        self.depth += 1;
                    }
                    b'}' | b']' if self.depth > 0 => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            match start.take() {
                                Some(from) => emit(&block[from..=i]),
                                None => {
                                    self.carry.extend_from_slice(&block[..=i]);
                                    emit(&self.carry);
                                    self.carry.clear();
                                }
                            }
                        }
                    }
                    b']' => self.closed = true,
                    b',' => {}
                    b if b.is_ascii_whitespace() => {}
                    _ if self.depth == 0 => {
                        self.error = Some(format!(
                            "unexpected `{}` between array elements",
                            byte as char
                        ))
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        if self.depth > 0 {
            let from = start.unwrap_or(0);
            self.carry.extend_from_slice(&block[from..]);
        }
        self.offset += block.len();
    }
}

/// Reads bench_serving's legacy conversation JSONL (`conversations`/`conversation` with
/// `value`/`content` turns; unreadable lines are skipped as upstream does) as a seeded shuffle.
pub(crate) fn read_conversation_jsonl(
    path: &Path,
    wanted: u64,
    seed: u64,
) -> Result<Vec<TwoTurn>, DatasetError> {
    let mut reservoir = Reservoir::new(seed, keep_for(wanted));
    for entry in super::non_empty_lines(path)? {
        let (_, line) = entry?;
        if let Ok(conversation) = serde_json::from_str::<Conversation>(&line) {
            reservoir.offer(two_turns(conversation));
        }
    }
    Ok(reservoir.into_shuffled())
}

/// Tokenises (in parallel) and filters conversations into canonical rows.
pub(crate) fn sample_rows(
    pairs: Vec<TwoTurn>,
    bundle: &TokenizerBundle,
    options: &SampleOptions,
    source: (&str, &str),
) -> Result<Vec<DatasetRow>, DatasetError> {
    if let Some(fixed) = options.output_len
        && fixed < 4
    {
        return Err(DatasetError::Other(format!(
            "output_len too small: {fixed} (at least 4)"
        )));
    }
    let wanted = if options.num_prompts == 0 {
        usize::MAX
    } else {
        usize::try_from(options.num_prompts).unwrap_or(usize::MAX)
    };
    let mut rows = Vec::new();
    let batch = if wanted == usize::MAX {
        8192
    } else {
        (wanted * 5 / 4).clamp(64, 8192)
    };
    for chunk in pairs.chunks(batch) {
        let prompts: Vec<String> = chunk
            .iter()
            .map(|p| format!("{}{}", p.prompt, options.prompt_suffix))
            .collect();
        let prompt_lens = lengths(bundle, prompts.clone())?;
        let answer_lens = match options.output_len {
            Some(_) => vec![0; chunk.len()],
            None => lengths(bundle, chunk.iter().map(|p| p.completion.clone()).collect())?,
        };
        for ((prompt, prompt_len), answer_len) in
            prompts.into_iter().zip(prompt_lens).zip(answer_lens)
        {
            let output_len = options.output_len.unwrap_or(answer_len as u64);
            if prompt_len < 2 || output_len < 2 {
                continue;
            }
            if options
                .context_len
                .is_some_and(|limit| prompt_len as u64 + output_len > limit)
            {
                continue;
            }
            rows.push(DatasetRow {
                prompt: Value::String(prompt),
                output_len,
                prompt_len: Some(prompt_len as u64),
                extra_request_body: None,
                image_data: None,
                timestamp: None,
                routing_key: None,
                metadata: Some(
                    json!({"source_dataset_name": source.0, "source_dataset_path": source.1}),
                ),
            });
            if rows.len() >= wanted {
                return Ok(rows);
            }
        }
    }
    Ok(rows)
}

fn lengths(bundle: &TokenizerBundle, texts: Vec<String>) -> Result<Vec<usize>, DatasetError> {
    super::count::count_all(&bundle.tokenizer, &texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservoir_is_a_seeded_shuffle_prefix() {
        let run = |seed, capacity| {
            let mut r = Reservoir::new(seed, capacity);
            for i in 0..100 {
                r.offer(Some(TwoTurn {
                    prompt: i.to_string(),
                    completion: String::new(),
                }));
            }
            r.into_shuffled()
                .into_iter()
                .map(|t| t.prompt)
                .collect::<Vec<_>>()
        };
        let all = run(1, 1000);
        assert_eq!(all.len(), 100);
        assert_eq!(
            run(1, 10),
            all[..10].to_vec(),
            "a small reservoir keeps the head of the same shuffle"
        );
        assert_ne!(run(2, 1000), all);
        assert_ne!(
            all,
            (0..100).map(|i: i32| i.to_string()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn scanner_splits_elements_at_any_block_boundary() {
        let doc = br#" [ {"a": "x]}\"{"}, {"b": [1, {"c": "}"}]} ,{"d":"\\"}] "#;
        let whole = {
            let mut out = Vec::new();
            let mut scanner = ElementScanner::default();
            scanner.feed(doc, &mut |e| out.push(e.to_vec()));
            assert!(scanner.finished() && scanner.error.is_none());
            out
        };
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0], br#"{"a": "x]}\"{"}"#.to_vec());
        for split in 0..doc.len() {
            let mut out = Vec::new();
            let mut scanner = ElementScanner::default();
            scanner.feed(&doc[..split], &mut |e| out.push(e.to_vec()));
            scanner.feed(&doc[split..], &mut |e| out.push(e.to_vec()));
            assert_eq!(out, whole, "split at {split}");
        }
    }

    #[test]
    fn reads_sharegpt_array_streaming() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sg.json");
        std::fs::write(&path, r#"[{"id":"a","conversations":[{"from":"human","value":"hi there"},{"from":"gpt","value":"hello"}]},
            {"id":"b","conversations":[{"from":"human","value":"only one"}]}]"#).expect("write");
        let pairs = read_sharegpt(&path, 10, 1).expect("pairs");
        assert_eq!(
            pairs,
            vec![TwoTurn {
                prompt: "hi there".into(),
                completion: "hello".into()
            }]
        );
        std::fs::write(&path, "{\"not\": \"an array\"}").expect("write");
        assert!(read_sharegpt(&path, 10, 1).is_err());
    }
}
