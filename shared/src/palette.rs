//! One colour per candidate, the same on every plot and page (the run page's plots, chips and
//! trials table, the compare page, `report.html`): picked by the candidate's number, never by
//! its place in a list, so a candidate missing from one plot does not shift the others.
//!
//! The colours are the Okabe-Ito set without its yellow (barely visible on white), plus a few
//! dark extras: all readable on the white plot background and as swatches on the dark theme.

/// The colours, as `#rrggbb`.
pub const COLOURS: [&str; 10] = [
    "#0072b2", // blue: the baseline
    "#d55e00", // vermillion
    "#009e73", // bluish green
    "#cc79a7", // reddish purple
    "#e69f00", // orange
    "#56b4e9", // sky blue
    "#7b3294", // purple
    "#8c6d31", // brown
    "#4d4d4d", // dark grey
    "#c51b7d", // magenta
];

/// The colour of candidate `id` (`#rrggbb`).
pub fn colour(id: usize) -> &'static str {
    COLOURS[id % COLOURS.len()]
}

/// The colour of candidate `id` as red, green and blue.
pub fn rgb(id: usize) -> (u8, u8, u8) {
    let hex = colour(id).trim_start_matches('#');
    let part = |at: usize| {
        hex.get(at..at + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0)
    };
    (part(0), part(2), part(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_keeps_its_colour_and_neighbours_differ() {
        assert_eq!(colour(3), colour(3 + COLOURS.len()));
        assert_ne!(colour(0), colour(1));
        assert_eq!(rgb(0), (0x00, 0x72, 0xb2));
        let unique: std::collections::BTreeSet<&str> = COLOURS.iter().copied().collect();
        assert_eq!(unique.len(), COLOURS.len());
    }
}
