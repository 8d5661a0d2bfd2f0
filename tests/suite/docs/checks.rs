//! The drift checks, each over text: what a document says against what the code gives. Each
//! returns the problems it found, one line each, empty when the two agree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The dotted keys a table of `docs/configuration.md` documents: a section is a heading
/// `` ## `[cloud]` `` or `` ## `[[cloud.dcs_instance]]` ``, a key is a row `` | `key` | ``,
/// and `assume_agency.domain_name` in `[[cloud]]` is `cloud.assume_agency.domain_name`.
pub fn documented_keys(md: &str) -> Vec<String> {
    let mut section: Option<String> = None;
    let mut keys = Vec::new();
    for line in md.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = heading
                .trim()
                .strip_prefix('`')
                .and_then(|h| h.strip_suffix('`'))
                .map(|h| h.trim_matches(|c| c == '[' || c == ']').to_string());
            continue;
        }
        let (Some(section), Some(row)) = (&section, line.strip_prefix("| `")) else {
            continue;
        };
        if let Some(key) = row.split('`').next() {
            keys.push(format!("{section}.{key}"));
        }
    }
    keys
}

/// Every accepted key documented once, and every documented key accepted.
pub fn config_reference(md: &str, accepted: &[String]) -> Vec<String> {
    let documented = documented_keys(md);
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for key in &documented {
        if !seen.insert(key) {
            problems.push(format!("{key} is documented twice"));
        }
        if !accepted.contains(key) {
            problems.push(format!(
                "{key} is documented but the exporter does not accept it"
            ));
        }
    }
    for key in accepted {
        if !seen.contains(key) {
            problems.push(format!("{key} is accepted but not documented"));
        }
    }
    problems
}

/// The keys `config/exporter.toml` shows, set or commented out: a line `key = ...` under its
/// (possibly commented) section header, and the keys of an inline table `key = { a = ... }`.
pub fn example_keys(toml: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut keys = BTreeSet::new();
    for line in toml.lines() {
        let line = line.trim_start_matches(|c: char| c == '#' || c.is_whitespace());
        if line.starts_with('[') {
            let name = line.split(']').next().unwrap_or("");
            section = name.trim_start_matches('[').to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        let value = value.trim();
        if let Some(inner) = value.strip_prefix('{') {
            let inner = inner.split('}').next().unwrap_or("");
            for part in inner.split(',') {
                if let Some((sub, _)) = part.split_once('=') {
                    keys.insert(format!("{section}.{key}.{}", sub.trim()));
                }
            }
        } else {
            keys.insert(format!("{section}.{key}"));
        }
    }
    keys
}

/// Every accepted key shown in the example file.
pub fn example_config(toml: &str, accepted: &[String]) -> Vec<String> {
    let shown = example_keys(toml);
    accepted
        .iter()
        .filter(|key| !shown.contains(*key))
        .map(|key| format!("{key} is accepted but config/exporter.toml does not show it"))
        .collect()
}

/// A family's type and label names.
#[derive(Clone, Debug, Default)]
pub struct Emitted {
    pub kind: String,
    pub labels: BTreeSet<String>,
}

/// The families of an exposition in the text format: each `# TYPE` and the label names its
/// samples carry (`le` left out).
pub fn emitted_families(text: &str) -> BTreeMap<String, Emitted> {
    let mut families: BTreeMap<String, Emitted> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                families.entry(name.to_string()).or_default().kind = kind.to_string();
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let sample = &line[..name_end];
        let family = ["_bucket", "_count", "_sum", ""]
            .iter()
            .filter_map(|suffix| sample.strip_suffix(suffix))
            .find(|base| families.contains_key(*base))
            .map(str::to_string);
        let (Some(family), Some(labels)) = (family, line[name_end..].strip_prefix('{')) else {
            continue;
        };
        let entry = families.get_mut(&family).expect("found above");
        for name in label_names(labels) {
            if name != "le" {
                entry.labels.insert(name);
            }
        }
    }
    families
}

/// The label names of `a="x",b="y\"z"} 1`.
fn label_names(labels: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = labels;
    while let Some(eq) = rest.find("=\"") {
        names.push(rest[..eq].trim_start_matches(',').to_string());
        let mut escaped = false;
        let value = &rest[eq + 2..];
        let end = value
            .char_indices()
            .find(|&(_, c)| {
                let end = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                end
            })
            .map_or(value.len(), |(i, _)| i);
        rest = &value[(end + 1).min(value.len())..];
        if rest.starts_with('}') {
            break;
        }
    }
    names
}

/// The families `docs/metrics.md` documents: a heading `` ### `name` `` followed by a line
/// `type · labels: `a`, `b` · series: ...` (`none` for no labels).
pub fn documented_families(md: &str) -> BTreeMap<String, Emitted> {
    let mut families = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in md.lines() {
        if let Some(heading) = line.strip_prefix("### `") {
            current = heading.strip_suffix('`').map(str::to_string);
            continue;
        }
        let Some(name) = current.as_ref() else {
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split(" · ");
        let kind = parts.next().unwrap_or("").trim().to_string();
        let labels = parts
            .next()
            .and_then(|p| p.strip_prefix("labels: "))
            .map(|list| {
                list.split(',')
                    .map(|l| l.trim().trim_matches('`').to_string())
                    .filter(|l| !l.is_empty() && l != "none")
                    .collect()
            })
            .unwrap_or_default();
        families.insert(name.clone(), Emitted { kind, labels });
        current = None;
    }
    families
}

/// Every emitted family documented with its type and its label names (a documented
/// `tag_<key>` stands for every `tag_` label), and every documented family emitted.
pub fn family_reference(
    documented: &BTreeMap<String, Emitted>,
    emitted: &BTreeMap<String, Emitted>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, family) in emitted {
        let Some(doc) = documented.get(name) else {
            problems.push(format!(
                "{name} ({}) is emitted but not documented",
                family.kind
            ));
            continue;
        };
        if doc.kind != family.kind {
            problems.push(format!(
                "{name} is a {} but documented as {}",
                family.kind, doc.kind
            ));
        }
        if family.labels.is_empty() {
            continue; // no sample to read labels from: the type is what can be checked
        }
        let fold = |labels: &BTreeSet<String>| -> BTreeSet<String> {
            labels
                .iter()
                .map(|l| {
                    if l.starts_with("tag_") {
                        "tag_<key>".to_string()
                    } else {
                        l.clone()
                    }
                })
                .collect()
        };
        let (got, said) = (fold(&family.labels), fold(&doc.labels));
        if got != said {
            problems.push(format!(
                "{name} has labels {got:?} but is documented with {said:?}"
            ));
        }
    }
    for name in documented.keys() {
        if !emitted.contains_key(name) {
            problems.push(format!("{name} is documented but never emitted"));
        }
    }
    problems
}

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown document's headings (outside code blocks).
pub fn anchors(md: &str) -> BTreeSet<String> {
    prose_lines(md)
        .filter_map(|line| line.strip_prefix('#'))
        .map(|h| anchor(h.trim_start_matches('#')))
        .collect()
}

/// The lines of a Markdown document outside fenced code blocks.
fn prose_lines(md: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    md.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// Every rule of `alerts.yml` has a `runbook_url` of `base` and its own name's anchor, and
/// `alerts.md` has that section.
pub fn alert_runbooks(rules: &str, runbooks: &str, base: &str) -> Vec<String> {
    let sections = anchors(runbooks);
    let mut problems = Vec::new();
    let mut alerts: Vec<(String, Option<String>)> = Vec::new();
    for line in rules.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("- alert:") {
            alerts.push((name.trim().to_string(), None));
        } else if let Some(url) = line.strip_prefix("runbook_url:") {
            match alerts.last_mut() {
                Some((_, slot @ None)) => *slot = Some(url.trim().trim_matches('\'').to_string()),
                _ => problems.push(format!("a runbook_url outside an alert: {url}")),
            }
        }
    }
    if alerts.is_empty() {
        problems.push("no alert rules found".to_string());
    }
    for (alert, url) in alerts {
        let own = format!("{base}{}", anchor(&alert));
        match url {
            None => problems.push(format!("{alert} has no runbook_url")),
            Some(url) if url != own => {
                problems.push(format!("{alert}'s runbook_url is {url}, not {own}"));
            }
            Some(_) => {}
        }
        if !sections.contains(&anchor(&alert)) {
            problems.push(format!("docs/alerts.md has no section {alert}"));
        }
    }
    problems
}

/// Every relative link of the Markdown file at `path` names a file that exists, and an anchor
/// its target has.
pub fn relative_links(path: &Path, md: &str) -> Vec<String> {
    let dir = path.parent().expect("a file in a directory");
    let mut problems = Vec::new();
    for line in prose_lines(md) {
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            let target = &after[..end];
            rest = &after[end..];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
            let resolved = if file.is_empty() {
                path.to_path_buf()
            } else {
                dir.join(file)
            };
            let shown = format!("{}: {target}", path.display());
            if !resolved.exists() {
                problems.push(format!("{shown}: no such file"));
                continue;
            }
            if !fragment.is_empty() {
                let text = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !anchors(&text).contains(fragment) {
                    problems.push(format!("{shown}: no such heading"));
                }
            }
        }
    }
    problems
}
