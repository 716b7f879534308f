//! A bound on what a config may expand to, checked before it is parsed for real. YAML aliases
//! repeat a node wherever they appear, so a few lines (ten aliases of ten aliases of ...) can
//! stand for a billion values, and every parse that builds values (the schema check, the config
//! itself) would build them all: the fuzz test saw 1.5 GB taken by one such file. This walk
//! builds nothing and stops at the bound.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};

/// Most values (scalars, lists, mappings, aliases expanded) a config may hold.
pub(super) const MAX_VALUES: u64 = 100_000;
/// Most bytes of text all its scalars may hold, aliases expanded.
pub(super) const MAX_TEXT_BYTES: u64 = 16 << 20;

#[derive(Default)]
struct Spent {
    values: Cell<u64>,
    bytes: Cell<u64>,
    exceeded: Cell<bool>,
}

#[derive(Clone, Copy)]
struct Walk<'a>(&'a Spent);

impl Walk<'_> {
    fn spend<E: de::Error>(self, bytes: usize) -> Result<(), E> {
        let spent = self.0;
        spent.values.set(spent.values.get() + 1);
        spent
            .bytes
            .set(spent.bytes.get().saturating_add(bytes as u64));
        if spent.values.get() > MAX_VALUES || spent.bytes.get() > MAX_TEXT_BYTES {
            spent.exceeded.set(true);
            return Err(E::custom(format!(
                "the config expands to more than {MAX_VALUES} values or {} MiB of text (YAML aliases repeat what they point to); write it out without the repetition",
                MAX_TEXT_BYTES >> 20
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        self.spend(text.len())
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<(), E> {
        self.spend(bytes.len())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.spend(0)?;
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.spend(0)?;
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged value (`!tag value`): the tag, then the value.
        self.spend(0)?;
        let ((), variant) = data.variant_seed(self)?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }
}

/// `Err` with the YAML error (and its position) when `text` expands beyond the bound. Any other
/// problem is left to the real parse, which reports it in full.
pub(super) fn check(text: &str) -> Result<(), serde_norway::Error> {
    let spent = Spent::default();
    for document in serde_norway::Deserializer::from_str(text) {
        match Walk(&spent).deserialize(document) {
            Ok(()) => {}
            Err(error) if spent.exceeded.get() => return Err(error),
            // A syntax error: the iterator would offer the broken document again.
            Err(_) => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_configs_and_aliases_pass_and_exponential_ones_stop() {
        assert!(check("a: &x [1, 2]\nb: *x\nc: {d: e}\n").is_ok());
        assert!(
            check(": : [").is_ok(),
            "syntax errors are the parser's to report"
        );
        let mut laughs = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..9 {
            laughs.push_str(&format!(
                "l{level}: &l{level} [{}]\n",
                vec![format!("*l{}", level - 1); 10].join(", ")
            ));
        }
        let error = check(&laughs).expect_err("10^9 values");
        assert!(error.to_string().contains("YAML aliases"), "{error}");
    }
}
