//! One module per page.

pub(crate) mod compare;
pub(crate) mod config;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod whatif;

/// Formats an optional number with `digits` decimals, `-` when absent.
pub(crate) fn num(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

/// Formats seconds as `1h 02m`, `3m 20s` or `12s`.
pub(crate) fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds else {
        return "-".into();
    };
    let s = s.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m {sec:02}s"),
        (h, min, _) => format!("{h}h {min:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Some(12.2)), "12s");
        assert_eq!(duration(Some(200.0)), "3m 20s");
        assert_eq!(duration(Some(3720.0)), "1h 02m");
        assert_eq!(duration(None), "-");
        assert_eq!(num(Some(1.234), 1), "1.2");
    }
}
