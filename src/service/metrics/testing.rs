//! Test helpers of the metrics files: enough of an OpenMetrics parser to
//! read `/metrics` back, and a pod request to count.

use std::time::Duration;

use crate::pod::{GROUP_PATH_TEMPLATE, RequestOutcome};

/// One sample line of the OpenMetrics text: `name{labels} value`.
#[derive(Debug, PartialEq)]
pub struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Enough of an OpenMetrics parser for these tests: samples only, no
/// timestamps or exemplars; insists on the closing `# EOF`.
pub fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with("# EOF\n"), "no `# EOF` at the end:\n{text}");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| parse_sample(line).unwrap_or_else(|| panic!("bad sample line: {line}")))
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
        None => (series, Vec::new()),
    };
    let value = match value {
        "+Inf" => f64::INFINITY,
        value => value.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `a="x",b="y"`; values hold no quotes or backslashes here.
fn parse_labels(text: &str) -> Option<Vec<(String, String)>> {
    let mut labels = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after_key) = rest.split_once("=\"")?;
        let (value, after_value) = after_key.split_once('"')?;
        labels.push((key.to_string(), value.to_string()));
        rest = after_value.strip_prefix(',').unwrap_or(after_value);
    }
    Some(labels)
}

/// The value of the one series named `name` with exactly `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    samples
        .iter()
        .find(|sample| sample.name == name && sample.labels == wanted)
        .map(|sample| sample.value)
}

/// A pod request of `method` that got `status` (`None`: no answer).
pub fn outcome(method: &'static str, status: Option<u16>) -> RequestOutcome {
    RequestOutcome {
        method,
        path: GROUP_PATH_TEMPLATE,
        status,
        duration: Duration::from_millis(20),
    }
}
