//! The OpenMetrics text exposition, parsed strictly enough to fail a test on
//! anything malformed.

use std::collections::BTreeMap;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the OpenMetrics text exposition, panicking on anything malformed:
/// it ends with `# EOF`, every other line is a `# HELP|TYPE|UNIT` comment or
/// a sample `name{label="value",...} number`.
pub fn parse_openmetrics(text: &str) -> Vec<Sample> {
    assert!(
        text.ends_with("# EOF\n") || text.ends_with("# EOF"),
        "no `# EOF` at the end:\n{text}"
    );
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if *line == "# EOF" {
            assert_eq!(index, lines.len() - 1, "`# EOF` before the end:\n{text}");
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split(' ').next().unwrap_or_default();
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&kind),
                "unexpected comment {line:?}"
            );
            continue;
        }
        samples.push(
            parse_sample(line)
                .unwrap_or_else(|| panic!("not an OpenMetrics sample: {line:?}\n{text}")),
        );
    }
    samples
}

/// One sample line, or `None` if it is not one.
fn parse_sample(line: &str) -> Option<Sample> {
    let is_name = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    };
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        number => number.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => {
            let mut rest = rest.strip_suffix('}')?;
            let mut labels = BTreeMap::new();
            while !rest.is_empty() {
                let (key, after_key) = rest.split_once("=\"")?;
                let (label, after_value) = after_key.split_once('"')?;
                if !is_name(key) || labels.insert(key.to_string(), label.to_string()).is_some() {
                    return None;
                }
                rest = match after_value.strip_prefix(',') {
                    Some(more) => more,
                    None if after_value.is_empty() => after_value,
                    None => return None,
                };
            }
            (name, labels)
        }
    };
    is_name(name).then(|| Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The value of the series `name` with exactly `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    samples
        .iter()
        .find(|sample| sample.name == name && sample.labels == wanted)
        .map(|sample| sample.value)
}
