//! `sinfo` as autobench reads it: one row per partition and node kind (`%P|%l|%G|%D|%a`), with
//! its time limit in minutes and the GPUs each of its nodes has. Pure parsing, tested on the
//! shapes real clusters print (`gpu:a100:8(S:0-1)`, `1-00:00:00`, `infinite`).

/// The `sinfo -o` format these rows are read from.
pub(crate) const FORMAT: &str = "%P|%l|%G|%D|%a";

/// One line of `sinfo -h -o FORMAT`: nodes of one partition that share a GRES set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartitionRow {
    /// The partition's name (without the default marker).
    pub name: String,
    /// Whether it is the default partition (`main*`).
    pub default: bool,
    /// Its time limit in minutes; `None`: unlimited.
    pub time_limit_min: Option<u64>,
    /// GPUs on each of these nodes.
    pub gpus_per_node: u64,
    /// How many nodes.
    pub nodes: u64,
    /// Whether the partition is up.
    pub up: bool,
}

/// Parses `sinfo -h -o FORMAT`; lines that do not have five fields are skipped.
pub(crate) fn parse(text: &str) -> Vec<PartitionRow> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            let [name, limit, gres, nodes, avail] = fields.as_slice() else {
                return None;
            };
            let default = name.ends_with('*');
            Some(PartitionRow {
                name: name.trim_end_matches('*').to_string(),
                default,
                time_limit_min: minutes(limit),
                gpus_per_node: gpus(gres),
                nodes: nodes.parse().unwrap_or(0),
                up: *avail == "up",
            })
        })
        .collect()
}

/// A Slurm time (`30`, `30:00`, `2:00:00`, `1-00:00:00`, `1-12`) in whole minutes (seconds
/// rounded up); `None` for `infinite`, `UNLIMITED` or anything unreadable.
pub(crate) fn minutes(text: &str) -> Option<u64> {
    let (days, rest) = match text.split_once('-') {
        Some((days, rest)) => (days.parse::<u64>().ok()?, rest),
        None => (0, text),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let with_days = text.contains('-');
    let (hours, mins, secs) = match (with_days, parts.as_slice()) {
        (false, [m]) => (0, *m, 0),
        (false, [m, s]) => (0, *m, *s),
        (_, [h, m, s]) => (*h, *m, *s),
        (true, [h]) => (*h, 0, 0),
        (true, [h, m]) => (*h, *m, 0),
        _ => return None,
    };
    Some(days * 24 * 60 + hours * 60 + mins + secs.div_ceil(60))
}

/// GPUs in a GRES string: the sum of its `gpu` entries (`gpu:4`, `gpu:a100:8(S:0-1)`).
pub(crate) fn gpus(gres: &str) -> u64 {
    gres.split(',')
        .filter_map(|entry| {
            let entry = entry.split('(').next().unwrap_or("");
            let mut parts = entry.split(':');
            (parts.next() == Some("gpu"))
                .then(|| parts.next_back().and_then(|n| n.parse::<u64>().ok()))?
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_partitions_as_real_clusters_print_them() {
        let rows = parse(
            "main*|1-00:00:00|gpu:4|1|up\ngpu|2:00:00|gpu:a100:8(S:0-1)|12|up\ncpu|infinite|(null)|40|down\nbroken line\n",
        );
        assert_eq!(rows.len(), 3);
        assert!(rows[0].default && rows[0].name == "main");
        assert_eq!(rows[0].time_limit_min, Some(1440));
        assert_eq!((rows[1].gpus_per_node, rows[1].nodes), (8, 12));
        assert_eq!(rows[1].time_limit_min, Some(120));
        assert_eq!((rows[2].gpus_per_node, rows[2].time_limit_min), (0, None));
        assert!(!rows[2].up);
    }

    #[test]
    fn reads_slurm_times() {
        assert_eq!(minutes("30"), Some(30));
        assert_eq!(minutes("30:00"), Some(30));
        assert_eq!(minutes("30:01"), Some(31));
        assert_eq!(minutes("2:00:00"), Some(120));
        assert_eq!(minutes("1-12"), Some(36 * 60));
        assert_eq!(minutes("UNLIMITED"), None);
        assert_eq!(gpus("gpu:a100:4,gpu:v100:2"), 6);
        assert_eq!(gpus("(null)"), 0);
    }
}
