//! The Cartesian product of searched keys as a lazy iterator: one index per key, advanced like an
//! odometer, so only the current combination is ever in memory.

use crate::candidates::SearchKey;
use crate::flags::FlagMap;

/// The product of `items` over a baseline, in itertools order (the last key varies fastest).
/// Empty when there are no items or one has no values.
#[derive(Debug, Clone)]
pub(super) struct Product<'a> {
    base: &'a FlagMap,
    items: &'a [SearchKey],
    /// The value index per key of the next combination; `None` once exhausted.
    digits: Option<Vec<usize>>,
}

impl<'a> Product<'a> {
    /// The product of `items`, each combination laid over `base`.
    pub(super) fn new(base: &'a FlagMap, items: &'a [SearchKey]) -> Product<'a> {
        let empty = items.is_empty() || items.iter().any(|item| item.values.is_empty());
        Product {
            base,
            items,
            digits: (!empty).then(|| vec![0; items.len()]),
        }
    }

    /// Moves to the next combination: the last index turns fastest and carries into the one
    /// before it; a carry out of the first index ends the product.
    fn advance(&mut self) {
        let Some(digits) = self.digits.as_mut() else {
            return;
        };
        for position in (0..digits.len()).rev() {
            digits[position] += 1;
            if digits[position] < self.items[position].values.len() {
                return;
            }
            digits[position] = 0;
        }
        self.digits = None;
    }
}

impl Iterator for Product<'_> {
    type Item = FlagMap;

    fn next(&mut self) -> Option<FlagMap> {
        let digits = self.digits.as_ref()?;
        let mut candidate = self.base.clone();
        for (item, &digit) in self.items.iter().zip(digits) {
            candidate.insert(item.key.clone(), item.values[digit].clone());
        }
        self.advance();
        Some(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str, values: &[i64]) -> SearchKey {
        SearchKey {
            key: name.to_string(),
            values: values.iter().map(|v| json!(v)).collect(),
        }
    }

    #[test]
    fn last_key_varies_fastest() {
        let base = FlagMap::new();
        let items = [key("a", &[1, 2]), key("b", &[10, 20, 30])];
        let pairs: Vec<(i64, i64)> = Product::new(&base, &items)
            .map(|c| (c["a"].as_i64().unwrap_or(0), c["b"].as_i64().unwrap_or(0)))
            .collect();
        assert_eq!(
            pairs,
            [(1, 10), (1, 20), (1, 30), (2, 10), (2, 20), (2, 30)]
        );
    }

    #[test]
    fn empty_keys_or_values_give_nothing() {
        let base = FlagMap::new();
        assert_eq!(Product::new(&base, &[]).count(), 0);
        assert_eq!(
            Product::new(&base, &[key("a", &[1]), key("b", &[])]).count(),
            0
        );
    }

    #[test]
    fn a_huge_product_starts_at_once() {
        let base = FlagMap::new();
        let items: Vec<SearchKey> = (0..40)
            .map(|i| key(&format!("k{i}"), &[1, 2, 3, 4, 5]))
            .collect();
        let first: Vec<FlagMap> = Product::new(&base, &items).take(3).collect();
        assert_eq!(first.len(), 3);
        assert_eq!(first[2]["k39"], json!(3));
        assert_eq!(first[2]["k38"], json!(1));
    }
}
