//! Deserialisers for the config's polymorphic values (a number, a list or a map), written as
//! visitors so that a wrong shape is reported at its own line and column with what was expected,
//! instead of serde's "data did not match any variant".

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use shared::qps::Spacing;
use shared::sla::{self, MeasureFrom, Sla};

/// `benchmark.qps` as written: a rate, a list, `{values: [...]}`, or `{lower, upper, ...}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum QpsSpec {
    /// Fixed rates.
    Values(Vec<f64>),
    /// Bisection bounds (defaults applied later).
    Bisect {
        /// Lower bound.
        lower: f64,
        /// Upper bound.
        upper: f64,
        /// Stop width.
        tolerance: Option<f64>,
        /// Round cap as written (clamped later, with a warning).
        max_rounds: Option<i64>,
        /// Midpoint spacing.
        spacing: Option<Spacing>,
    },
}

const QPS_KEYS: &[&str] = &[
    "values",
    "lower",
    "upper",
    "tolerance",
    "max_rounds",
    "spacing",
];

impl<'de> Deserialize<'de> for QpsSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QpsVisitor;
        impl<'de> Visitor<'de> for QpsVisitor {
            type Value = QpsSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a request rate, a list of rates, {values: [...]} or {lower, upper, tolerance, max_rounds}")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<QpsSpec, E> {
                Ok(QpsSpec::Values(vec![v]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<QpsSpec, E> {
                Ok(QpsSpec::Values(vec![v as f64]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<QpsSpec, E> {
                Ok(QpsSpec::Values(vec![v as f64]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<QpsSpec, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<f64>()? {
                    values.push(v);
                }
                Ok(QpsSpec::Values(values))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<QpsSpec, A::Error> {
                let (mut values, mut lower, mut upper, mut tolerance, mut rounds) =
                    (None, None, None, None, None);
                let mut spacing = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "values" => values = Some(map.next_value::<Vec<f64>>()?),
                        "lower" => lower = Some(map.next_value::<f64>()?),
                        "upper" => upper = Some(map.next_value::<f64>()?),
                        "tolerance" => tolerance = Some(map.next_value::<f64>()?),
                        "max_rounds" => rounds = Some(map.next_value::<i64>()?),
                        "spacing" => spacing = Some(map.next_value::<Spacing>()?),
                        other => return Err(de::Error::unknown_field(other, QPS_KEYS)),
                    }
                }
                match (values, lower, upper) {
                    (Some(values), None, None) => Ok(QpsSpec::Values(values)),
                    (None, Some(lower), Some(upper)) => Ok(QpsSpec::Bisect {
                        lower,
                        upper,
                        tolerance,
                        max_rounds: rounds,
                        spacing,
                    }),
                    _ => Err(de::Error::custom(
                        "benchmark.qps must be a list or a {lower, upper, tolerance} map (give both lower and upper, or values)",
                    )),
                }
            }
        }
        deserializer.deserialize_any(QpsVisitor)
    }
}

/// A scalar or a list of scalars, read as a list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape<T> {
            Many(Vec<T>),
            One(T),
        }
        match Shape::<T>::deserialize(deserializer) {
            Ok(Shape::Many(values)) => Ok(OneOrMany(values)),
            Ok(Shape::One(value)) => Ok(OneOrMany(vec![value])),
            Err(_) => Err(de::Error::custom(
                "expected a value or a list of values of the right type",
            )),
        }
    }
}

/// `benchmark.max_concurrency`: an integer, `null` (unlimited) or a list of those.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConcurrencyList(pub Vec<Option<u64>>);

impl<'de> Deserialize<'de> for ConcurrencyList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConcurrencyList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive integer, null (unlimited) or a list of those")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ConcurrencyList, E> {
                Ok(ConcurrencyList(vec![None]))
            }
            fn visit_none<E: de::Error>(self) -> Result<ConcurrencyList, E> {
                Ok(ConcurrencyList(vec![None]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConcurrencyList, E> {
                positive(v).map(|v| ConcurrencyList(vec![Some(v)]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ConcurrencyList, E> {
                let v = u64::try_from(v)
                    .map_err(|_| E::custom("max_concurrency must be positive or null"))?;
                self.visit_u64(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ConcurrencyList, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<Option<u64>>()? {
                    values.push(match v {
                        Some(v) => Some(positive(v)?),
                        None => None,
                    });
                }
                if values.is_empty() {
                    values.push(None);
                }
                Ok(ConcurrencyList(values))
            }
        }
        deserializer.deserialize_any(V)
    }
}

fn positive<E: de::Error>(v: u64) -> Result<u64, E> {
    if v == 0 {
        Err(E::custom(
            "max_concurrency must be at least 1 (use null for unlimited)",
        ))
    } else {
        Ok(v)
    }
}

/// `search.max_candidates`: present-and-null means unbounded, so it needs its own reader.
pub(super) fn max_candidates<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    match Option::<i64>::deserialize(deserializer)? {
        None => Ok(None),
        Some(n) if n >= 1 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        Some(_) => Err(de::Error::custom(
            "search.max_candidates must be >= 1 or null",
        )),
    }
}

/// The default cap when `max_candidates` is absent.
pub(super) fn default_max_candidates() -> Option<usize> {
    Some(shared::candidates::DEFAULT_MAX_CANDIDATES)
}

/// `benchmark.sla`: limit keys parsed by [`sla::parse_limit_key`], `min_success_rate`,
/// `measure_from`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SlaSpec(pub Sla);

const SLA_EXAMPLES: &[&str] = &[
    "max_ttft_ms",
    "max_tpot_ms",
    "max_mean_ttft_ms",
    "max_median_ttft_ms",
    "max_p90_ttft_ms",
    "max_p95_ttft_ms",
    "max_p99_ttft_ms",
    "max_mean_tpot_ms",
    "max_p90_tpot_ms",
    "max_p95_tpot_ms",
    "max_p99_tpot_ms",
    "max_p90_itl_ms",
    "max_p95_itl_ms",
    "max_p99_itl_ms",
    "max_mean_e2e_ms",
    "max_p90_e2e_ms",
    "max_p95_e2e_ms",
    "max_p99_e2e_ms",
    "min_success_rate",
    "measure_from",
];

impl<'de> Deserialize<'de> for SlaSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SlaSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a map of SLA limits such as {max_p99_ttft_ms: 1500, max_p99_tpot_ms: 30}",
                )
            }
            fn visit_unit<E: de::Error>(self) -> Result<SlaSpec, E> {
                Ok(SlaSpec::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SlaSpec, A::Error> {
                let mut raw: Vec<(String, f64)> = Vec::new();
                let mut sla = Sla::default();
                let mut from = MeasureFrom::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "min_success_rate" => {
                            let rate: f64 = map.next_value()?;
                            if !(0.0..=1.0).contains(&rate) {
                                return Err(de::Error::custom(
                                    "sla.min_success_rate must be between 0 and 1",
                                ));
                            }
                            sla.min_success_rate = rate;
                        }
                        "measure_from" => from = map.next_value()?,
                        _ => {
                            let value: Option<f64> = map.next_value()?;
                            if sla::parse_limit_key(&key, 0.0, from).is_err() {
                                return Err(de::Error::unknown_field(&key, SLA_EXAMPLES));
                            }
                            if let Some(value) = value {
                                if value <= 0.0 {
                                    return Err(de::Error::custom(format!(
                                        "sla.{key} must be a positive number of milliseconds"
                                    )));
                                }
                                raw.push((key, value));
                            }
                        }
                    }
                }
                for (key, value) in raw {
                    let limit =
                        sla::parse_limit_key(&key, value, from).map_err(de::Error::custom)?;
                    sla.limits.push(limit);
                }
                Ok(SlaSpec(sla))
            }
        }
        deserializer.deserialize_any(V)
    }
}
