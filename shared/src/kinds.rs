//! The closed sets of names that configs and command lines spell as strings: the request API
//! ([`ApiBackend`]), the dataset kind ([`DatasetKind`]), the server program ([`Framework`]) and
//! the arrival process ([`Arrival`]).
//!
//! Each set is parsed in exactly one place, its [`FromStr`], from one table of spellings: the
//! canonical name of every variant, then its aliases. An unknown name is always an error
//! ([`UnknownName`]) that lists the valid names and suggests the closest one; nothing falls back
//! to a default. `Display`, `name()` and `Serialize` write the canonical name, which is the
//! spelling configs, plans and result files have always used; `Deserialize` reads through
//! `FromStr`, so a config accepts the same aliases as the command line.
//!
//! | set | canonical name | aliases |
//! |---|---|---|
//! | [`ApiBackend`] | `auto` | |
//! | | `sglang` | `sglang-native` |
//! | | `sglang-oai` | `vllm`, `openai`, `lmdeploy`, `trt`, `tensorrt-llm` |
//! | | `sglang-oai-chat` | `vllm-chat`, `openai-chat` |
//! | [`DatasetKind`] | `random`, `sharegpt`, `generated-shared-prefix` | |
//! | | `custom` | `autobench` |
//! | [`Framework`] | `sglang`, `sim`, `transformers`, `vllm`, `trtllm` | |
//! | [`Arrival`] | `poisson`, `constant`, `trace` | |
//!
//! Names are matched exactly (case-sensitive), as they always were.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::flags::{BoolStyle, CliSpelling, NameStyle};

/// A closed set of names: what every enum of this module implements.
pub trait Kind: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// What the set is called in messages (`backend`, `dataset kind`).
    const WHAT: &'static str;
    /// Every variant, in table order.
    const ALL: &'static [Self];
    /// The canonical names, in table order.
    const NAMES: &'static [&'static str];
    /// The aliases, in table order.
    const ALIASES: &'static [&'static str];
    /// Every accepted spelling with its variant: canonical names and aliases.
    const SPELLINGS: &'static [(&'static str, Self)];
    /// The canonical name.
    fn name(self) -> &'static str;
    /// This variant's aliases.
    fn aliases(self) -> Vec<&'static str> {
        Self::SPELLINGS
            .iter()
            .filter(|(spelling, kind)| *kind == self && *spelling != self.name())
            .map(|(spelling, _)| *spelling)
            .collect()
    }
}

/// A name that is not in its set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What the set is called (`backend`).
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The canonical names.
    pub names: &'static [&'static str],
    /// The aliases.
    pub aliases: &'static [&'static str],
    /// The closest accepted spelling, when the name looks like a typo of it.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} `{}`; expected one of {}",
            self.what,
            self.given,
            self.names.join(", ")
        )?;
        if !self.aliases.is_empty() {
            write!(f, " (aliases: {})", self.aliases.join(", "))?;
        }
        if let Some(suggestion) = self.suggestion {
            write!(f, "; did you mean `{suggestion}`?")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownName {}

/// Parses `name` as a member of `K`: the one parser behind every `FromStr` of this module.
pub fn parse<K: Kind>(name: &str) -> Result<K, UnknownName> {
    if let Some((_, kind)) = K::SPELLINGS.iter().find(|(spelling, _)| *spelling == name) {
        return Ok(*kind);
    }
    let spellings: Vec<&'static str> = K::SPELLINGS.iter().map(|(s, _)| *s).collect();
    Err(UnknownName {
        what: K::WHAT,
        given: name.to_string(),
        names: K::NAMES,
        aliases: K::ALIASES,
        suggestion: closest(name, &spellings),
    })
}

/// The closest of `candidates` to `word` by edit distance, if within a typo's reach.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let reach = |c: &str| (c.len().max(word.len()) / 3).max(2);
    let chars = word.chars().count();
    candidates
        .iter()
        // The distance is at least the difference in length: a word far longer than every
        // candidate (a pasted blob) is no typo, and is not compared character by character.
        .filter(|c| chars.abs_diff(c.chars().count()) <= reach(c))
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(distance, c)| *distance <= reach(c))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Levenshtein distance between two strings (by chars), from `strsim` (already in the build
/// through clap): the hand-written copy it replaced gave the same distances on this module's
/// tests and had no reason to stay.
pub fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

/// Reads a string and parses it with [`parse`].
struct KindVisitor<K>(PhantomData<K>);

impl<K: Kind> Visitor<'_> for KindVisitor<K> {
    type Value = K;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}: one of {}", K::WHAT, K::NAMES.join(", "))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<K, E> {
        parse(name).map_err(E::custom)
    }
}

/// Declares one set: the enum, its spelling table, and `Kind`, `FromStr`, `Display` and serde.
/// Each variant is written `Variant = "canonical" | "alias" | ...`.
macro_rules! kinds {
    (
        $(#[$meta:meta])*
        pub enum $name:ident as $what:literal {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $canonical:literal $(| $alias:literal)*,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl Kind for $name {
            const WHAT: &'static str = $what;
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            const NAMES: &'static [&'static str] = &[$($canonical),+];
            const ALIASES: &'static [&'static str] = &[$($($alias,)*)+];
            const SPELLINGS: &'static [(&'static str, Self)] =
                &[$(($canonical, Self::$variant), $(($alias, Self::$variant),)*)+];

            fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $canonical,)+
                }
            }
        }

        impl $name {
            /// Every variant, in table order.
            pub const ALL: &'static [Self] = <Self as Kind>::ALL;
            /// The canonical names, in table order.
            pub const NAMES: &'static [&'static str] = <Self as Kind>::NAMES;

            /// The canonical name (configs, plans, result files and `--help` spell it so).
            pub fn name(self) -> &'static str {
                Kind::name(self)
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(name: &str) -> Result<Self, UnknownName> {
                parse(name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(KindVisitor(PhantomData))
            }
        }
    };
}

kinds! {
    /// Which HTTP API requests go to (bench_serving's `--backend`).
    pub enum ApiBackend as "backend" {
        /// Decide from the dataset's prompt kinds.
        Auto = "auto",
        /// SGLang native `/generate`.
        Sglang = "sglang" | "sglang-native",
        /// OpenAI completions `/v1/completions`.
        SglangOai = "sglang-oai" | "vllm" | "openai" | "lmdeploy" | "trt" | "tensorrt-llm" | "openai-compatible",
        /// OpenAI chat completions `/v1/chat/completions`.
        SglangOaiChat = "sglang-oai-chat" | "vllm-chat" | "openai-chat",
    }
}

kinds! {
    /// Where a run's prompts come from.
    pub enum DatasetKind as "dataset kind" {
        /// Synthetic prompts of exact token lengths.
        Random = "random",
        /// A canonical (or legacy conversation) JSONL file.
        Custom = "custom" | "autobench",
        /// ShareGPT conversations.
        Sharegpt = "sharegpt",
        /// Generated shared-prefix groups.
        GeneratedSharedPrefix = "generated-shared-prefix",
    }
}

kinds! {
    /// Which server program a candidate is.
    #[derive(Default)]
    pub enum Framework as "server framework" {
        /// `python -m sglang.launch_server`.
        #[default]
        Sglang = "sglang",
        /// autobench's built-in simulated SGLang-like server (`autobench sim`).
        Sim = "sim",
        /// `transformers serve MODEL` (Hugging Face transformers' OpenAI-compatible server).
        Transformers = "transformers",
        /// `vllm serve MODEL`.
        Vllm = "vllm",
        /// `trtllm-serve MODEL` (TensorRT-LLM).
        Trtllm = "trtllm" | "tensorrt_llm",
    }
}

kinds! {
    /// How arrivals are spaced.
    #[derive(Default)]
    pub enum Arrival as "arrival process" {
        /// Exponential gaps (bench_serving's default).
        #[default]
        Poisson = "poisson",
        /// Evenly spaced, `1/rate` apart.
        Constant = "constant",
        /// The rows' `timestamp`s, time-scaled so the mean rate is the requested one.
        Trace = "trace",
    }
}

/// The launch and API traits of one server program.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// Program and leading arguments as shown to users.
    pub command: &'static [&'static str],
    /// How flags are spelled on its command line.
    pub spelling: CliSpelling,
    /// `model_path` (or `model`) is a positional argument right after the command.
    pub positional_model: bool,
    /// Serves SGLang's native `/generate` and `/flush_cache`.
    pub sglang_api: bool,
    /// Accepts SGLang/vLLM extensions in OpenAI bodies (`ignore_eos`, `best_of`); servers that
    /// reject unknown fields do not.
    pub openai_extensions: bool,
    /// Typical start-up seconds, for the plan's wall-time estimate.
    pub startup_estimate_s: f64,
    /// The endpoint that empties its prefix cache (`POST`), when it has one: SGLang's
    /// `/flush_cache`; vLLM's `/reset_prefix_cache` (served only with `VLLM_SERVER_DEV_MODE=1`;
    /// when it is refused, prompts are salted instead).
    pub cache_reset: Option<&'static str>,
    /// Where it reports speculative decoding's accept length, when it does.
    pub accept_report: Option<AcceptReport>,
    /// How it spells each parallelism size (`tp_size`, `pp_size`, `dp_size`, `ep_size`, the
    /// canonical keys): its own flag name, or `None` when it has no such flag.
    pub parallel: &'static [(&'static str, Option<&'static str>)],
}

/// Where a server reports speculative decoding's accept length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptReport {
    /// SGLang's `GET /server_info`: `internal_states[0].avg_spec_accept_length` (older versions:
    /// a top-level `avg_spec_accept_length`), its running average.
    SglangServerInfo,
    /// vLLM's `GET /metrics`: the counters `vllm:spec_decode_num_drafts_total` and
    /// `vllm:spec_decode_num_accepted_tokens_total`, read before and after a trial.
    VllmMetrics,
}

const SGLANG_PARALLEL: &[(&str, Option<&str>)] = &[
    ("tp_size", Some("tp_size")),
    ("pp_size", Some("pp_size")),
    ("dp_size", Some("dp_size")),
    ("ep_size", Some("ep_size")),
];

const DASHES_BARE: CliSpelling = CliSpelling {
    bools: BoolStyle::BareFlag,
    names: NameStyle::Dashes,
};

impl Framework {
    /// This framework's profile.
    pub fn profile(self) -> Profile {
        match self {
            Framework::Sglang => Profile {
                command: &["python", "-m", "sglang.launch_server"],
                spelling: DASHES_BARE,
                positional_model: false,
                sglang_api: true,
                openai_extensions: true,
                startup_estimate_s: 90.0,
                cache_reset: Some("/flush_cache"),
                accept_report: Some(AcceptReport::SglangServerInfo),
                parallel: SGLANG_PARALLEL,
            },
            Framework::Sim => Profile {
                command: &["autobench", "sim"],
                spelling: DASHES_BARE,
                positional_model: false,
                sglang_api: true,
                openai_extensions: true,
                startup_estimate_s: 3.0,
                cache_reset: Some("/flush_cache"),
                accept_report: Some(AcceptReport::SglangServerInfo),
                parallel: SGLANG_PARALLEL,
            },
            Framework::Transformers => Profile {
                command: &["transformers", "serve"],
                spelling: CliSpelling {
                    bools: BoolStyle::FlagOrNoFlag,
                    names: NameStyle::Dashes,
                },
                positional_model: true,
                sglang_api: false,
                openai_extensions: false,
                startup_estimate_s: 30.0,
                cache_reset: None,
                accept_report: None,
                parallel: &[
                    ("tp_size", None),
                    ("pp_size", None),
                    ("dp_size", None),
                    ("ep_size", None),
                ],
            },
            Framework::Vllm => Profile {
                command: &["vllm", "serve"],
                spelling: CliSpelling {
                    bools: BoolStyle::FlagOrNoFlag,
                    names: NameStyle::Dashes,
                },
                positional_model: true,
                sglang_api: false,
                openai_extensions: true,
                startup_estimate_s: 120.0,
                cache_reset: Some("/reset_prefix_cache"),
                accept_report: Some(AcceptReport::VllmMetrics),
                // vLLM: --tensor-parallel-size, --pipeline-parallel-size, --data-parallel-size;
                // expert parallelism is --enable-expert-parallel (its size is tp x dp).
                parallel: &[
                    ("tp_size", Some("tensor_parallel_size")),
                    ("pp_size", Some("pipeline_parallel_size")),
                    ("dp_size", Some("data_parallel_size")),
                    ("ep_size", None),
                ],
            },
            Framework::Trtllm => Profile {
                command: &["trtllm-serve"],
                spelling: CliSpelling {
                    bools: BoolStyle::BareFlag,
                    names: NameStyle::Underscores,
                },
                positional_model: true,
                sglang_api: false,
                openai_extensions: true,
                startup_estimate_s: 180.0,
                cache_reset: None,
                accept_report: None,
                // trtllm-serve: --tp_size, --pp_size, --ep_size; no data parallelism.
                parallel: &[
                    ("tp_size", Some("tp_size")),
                    ("pp_size", Some("pp_size")),
                    ("dp_size", None),
                    ("ep_size", Some("ep_size")),
                ],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<K: Kind + FromStr<Err = UnknownName> + fmt::Display + Serialize>() {
        assert_eq!(K::ALL.len(), K::NAMES.len());
        for (kind, name) in K::ALL.iter().zip(K::NAMES) {
            assert_eq!(kind.name(), *name);
            assert_eq!(kind.to_string(), *name);
            assert_eq!(name.parse::<K>(), Ok(*kind));
            assert_eq!(serde_json::to_value(kind).ok(), Some((*name).into()));
        }
        for (spelling, kind) in K::SPELLINGS {
            assert_eq!(spelling.parse::<K>(), Ok(*kind), "{spelling}");
        }
        let unique: std::collections::BTreeSet<_> = K::SPELLINGS.iter().map(|(s, _)| s).collect();
        assert_eq!(
            unique.len(),
            K::SPELLINGS.len(),
            "a spelling is listed twice"
        );
    }

    #[test]
    fn every_set_round_trips_its_names_and_aliases() {
        round_trips::<ApiBackend>();
        round_trips::<DatasetKind>();
        round_trips::<Framework>();
        round_trips::<Arrival>();
    }

    #[test]
    fn aliases_map_to_their_variant() {
        assert_eq!("vllm".parse(), Ok(ApiBackend::SglangOai));
        assert_eq!("tensorrt-llm".parse(), Ok(ApiBackend::SglangOai));
        assert_eq!("openai-chat".parse(), Ok(ApiBackend::SglangOaiChat));
        assert_eq!("sglang-native".parse(), Ok(ApiBackend::Sglang));
        assert_eq!("autobench".parse(), Ok(DatasetKind::Custom));
        assert_eq!(
            ApiBackend::SglangOaiChat.aliases(),
            ["vllm-chat", "openai-chat"]
        );
        assert!(Framework::Vllm.aliases().is_empty());
    }

    #[test]
    fn unknown_names_are_errors_with_a_hint() {
        let error = "randon".parse::<DatasetKind>().err();
        assert_eq!(
            error.map(|e| e.to_string()).as_deref(),
            Some(
                "unknown dataset kind `randon`; expected one of random, custom, sharegpt, \
                 generated-shared-prefix (aliases: autobench); did you mean `random`?"
            )
        );
        let error = "zzzzzz".parse::<Arrival>().err();
        assert_eq!(
            error.map(|e| e.to_string()).as_deref(),
            Some("unknown arrival process `zzzzzz`; expected one of poisson, constant, trace")
        );
        assert!("Random".parse::<DatasetKind>().is_err());
        assert!("".parse::<Framework>().is_err());
        let hint = "vlm".parse::<Framework>().err().and_then(|e| e.suggestion);
        assert_eq!(hint, Some("vllm"));
    }

    #[test]
    fn serde_reads_aliases_and_rejects_unknown_names() {
        let read = |text: &str| serde_json::from_value::<ApiBackend>(text.into());
        assert_eq!(read("openai").ok(), Some(ApiBackend::SglangOai));
        assert_eq!(
            read("sglang-oai-chat").ok(),
            Some(ApiBackend::SglangOaiChat)
        );
        let error = read("sglang_oai").err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("did you mean")),
            "{error:?}"
        );
        assert!(serde_json::from_value::<Arrival>(3.into()).is_err());
        assert_eq!(
            serde_json::to_value(DatasetKind::GeneratedSharedPrefix).ok(),
            Some("generated-shared-prefix".into())
        );
    }

    #[test]
    fn defaults_and_profiles() {
        assert_eq!(Framework::default(), Framework::Sglang);
        assert_eq!(Arrival::default(), Arrival::Poisson);
        assert!(Framework::Sglang.profile().sglang_api);
        assert!(!Framework::Vllm.profile().sglang_api);
        assert!(Framework::Trtllm.profile().positional_model);
        assert_eq!(Framework::Vllm.profile().command, ["vllm", "serve"]);
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(
            closest("serch_space", &["launch", "search_space"]),
            Some("search_space")
        );
        assert_eq!(closest("zzzzzz", &["launch", "env"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
