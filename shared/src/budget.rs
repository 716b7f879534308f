//! How a time budget reads: hours for long ones, minutes or seconds for short ones, so a 0.1-h
//! budget says "6 min" rather than "0.1h".

/// `hours` as a person would say it: `12 h`, `1.5 h`, `6 min`, `45 s`, `5.4 s`, `0 s`.
pub fn budget_text(hours: f64) -> String {
    let seconds = (hours * 3600.0).max(0.0);
    if seconds >= 3600.0 {
        let text = format!("{:.1}", seconds / 3600.0);
        format!("{} h", text.trim_end_matches(".0"))
    } else if seconds >= 60.0 {
        let text = format!("{:.1}", seconds / 60.0);
        format!("{} min", text.trim_end_matches(".0"))
    } else if seconds >= 10.0 {
        format!("{} s", seconds.round())
    } else {
        let text = format!("{seconds:.1}");
        format!("{} s", text.trim_end_matches(".0"))
    }
}

#[cfg(test)]
mod tests {
    use super::budget_text;

    #[test]
    fn long_budgets_in_hours_short_ones_in_minutes_or_seconds() {
        assert_eq!(budget_text(12.0), "12 h");
        assert_eq!(budget_text(1.5), "1.5 h");
        assert_eq!(budget_text(1.0), "1 h");
        assert_eq!(budget_text(0.1), "6 min");
        assert_eq!(budget_text(0.025), "1.5 min");
        assert_eq!(budget_text(0.01), "36 s");
        assert_eq!(budget_text(0.0015), "5.4 s");
        assert_eq!(budget_text(0.0), "0 s");
    }
}
