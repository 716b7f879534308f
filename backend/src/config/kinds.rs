//! The name sets of [`shared::kinds`] on the command line: a clap value parser built from each
//! set's one table, so `--help` lists the canonical names (with the aliases in the long help) and
//! an unknown name fails with clap's list of valid values and its did-you-mean.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use shared::kinds::Kind;

/// The clap parser for set `K`: `#[arg(long, value_parser = config::value_parser::<K>())]`.
pub(crate) fn value_parser<K: Kind + Clone>() -> impl TypedValueParser<Value = K> {
    let values = K::ALL.iter().map(|kind| {
        let aliases = kind.aliases();
        let value = PossibleValue::new(kind.name());
        if aliases.is_empty() {
            value
        } else {
            value
                .help(format!("aliases: {}", aliases.join(", ")))
                .aliases(aliases)
        }
    });
    PossibleValuesParser::new(values).try_map(|name| shared::kinds::parse::<K>(&name))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use shared::kinds::{ApiBackend, DatasetKind};

    #[derive(Debug, Parser)]
    struct Args {
        #[arg(long, value_parser = super::value_parser::<ApiBackend>(), default_value = "sglang")]
        backend: ApiBackend,
        #[arg(long, value_parser = super::value_parser::<DatasetKind>())]
        kind: Option<DatasetKind>,
    }

    #[test]
    fn parses_names_and_aliases_and_lists_valid_names() {
        let args = Args::try_parse_from(["x", "--backend", "openai-chat", "--kind", "autobench"]);
        let args = args.map_err(|e| e.to_string());
        assert_eq!(
            args.as_ref().map(|a| (a.backend, a.kind)),
            Ok((ApiBackend::SglangOaiChat, Some(DatasetKind::Custom)))
        );
        let default = Args::try_parse_from(["x"]).map(|a| a.backend).ok();
        assert_eq!(default, Some(ApiBackend::Sglang));
        let error = Args::try_parse_from(["x", "--kind", "randon"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("possible values: random, custom"), "{error}");
        assert!(error.contains("random"), "{error}");
    }
}
