//! What the sessions touch: DCS's big-key, hot-key and offline key analyses and the instances'
//! statistics, read from the simulator by the real binary, named and bounded as configured.

use crate::common::{harness, process};

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::sim::SimConfig;
use harness::{Sample, scrape, wait_for};
use process::{Dir, Exporter};

const AK: &str = "AKKEYANALYSES";
const SK: &str = "SKkeyanalyses0000000000000000001";
const ENV: [(&str, &str); 2] = [("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)];

const QUICK: &str =
    "[exporter]\nscan_interval = \"5s\"\ndiscovery_interval = \"5s\"\nfirst_scan_spread = \"0s\"\n";

/// An exporter of every instance of a simulator, with `keys` added to its `[[cloud]]`.
async fn start(
    dir: &Dir,
    keys: &str,
) -> (
    Exporter,
    std::sync::Arc<dcs_session_exporter::sim::Simulator>,
) {
    let (sim, url) = harness::serve_sim(SimConfig::new(
        Credentials::new(AK, SK),
        harness::quick_topology(),
    ))
    .await;
    let file = dir.write(
        "exporter.toml",
        &format!(
            "{QUICK}{}{keys}\n[cloud.discovery]\n",
            harness::cloud_toml("sim", "p", &url)
        ),
    );
    (
        Exporter::start(&["--config", file.to_str().unwrap()], &ENV),
        sim,
    )
}

fn label<'a>(s: &'a Sample, name: &str) -> &'a str {
    s.labels.get(name).map_or("", String::as_str)
}

/// Waits until every instance shows its big-key and prefix analyses.
async fn analysed(exporter: &Exporter) -> Vec<Sample> {
    wait_for(
        Duration::from_secs(60),
        "the analyses on /metrics",
        || async {
            let samples = scrape(&exporter.base).await;
            let kinds: BTreeSet<_> = samples
                .iter()
                .filter(|s| s.name == "dcs_key_analysis_timestamp_seconds")
                .map(|s| label(s, "analysis").to_string())
                .collect();
            let memory = samples
                .iter()
                .any(|s| s.name == "dcs_instance_memory_max_bytes");
            (kinds.contains("big") && kinds.contains("prefix") && memory).then_some(samples)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_analyses_become_bounded_series() {
    let dir = Dir::new("keys-full");
    let (exporter, _sim) = start(&dir, "max_key_series = 5\nmax_key_prefixes = 3\n").await;
    let samples = analysed(&exporter).await;
    let of = |name: &'static str| samples.iter().filter(move |s| s.name == name);
    // At most 5 keys a measure an instance, the largest first in the simulator's data.
    let mut per_instance: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for name in [
        "dcs_big_key_bytes",
        "dcs_big_key_elements",
        "dcs_hot_key_frequency",
    ] {
        for s in of(name) {
            *per_instance
                .entry((name, label(s, "instance_id")))
                .or_default() += 1;
            assert!(!label(s, "key").is_empty(), "{s:?}");
            assert!(label(s, "key").chars().count() <= 128, "{s:?}");
        }
    }
    assert!(
        per_instance.keys().any(|(n, _)| *n == "dcs_big_key_bytes"),
        "no big string key: {per_instance:?}"
    );
    assert!(
        per_instance.values().all(|&n| (1..=5).contains(&n)),
        "{per_instance:?}"
    );
    for s in of("dcs_big_key_elements") {
        assert!(["list", "set", "zset", "hash", "stream", "other"].contains(&label(s, "type")));
    }
    for s in of("dcs_hot_key_frequency") {
        assert!((0.0..=255.0).contains(&s.value), "{s:?}");
    }
    // Three prefixes an instance and a type, the rest folded into `other`.
    let mut prefixes: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in of("dcs_key_prefix_bytes") {
        prefixes
            .entry(label(s, "instance_id"))
            .or_default()
            .insert(label(s, "prefix"));
    }
    assert!(!prefixes.is_empty());
    for (instance, names) in &prefixes {
        let own = names.iter().filter(|p| **p != "other").count();
        assert!(own <= 3, "{instance}: {names:?}");
    }
    // Memory against its limit, from the statistics.
    for s in of("dcs_instance_memory_used_bytes") {
        let max = of("dcs_instance_memory_max_bytes")
            .find(|m| label(m, "instance_id") == label(s, "instance_id"))
            .map(|m| m.value);
        assert!(
            max.is_some_and(|max| max > 0.0 && s.value <= max),
            "{s:?} {max:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_names_are_sixteen_hex_digits() {
    let dir = Dir::new("keys-hash");
    let (exporter, _sim) = start(&dir, "key_names = \"hash\"\n").await;
    let samples = analysed(&exporter).await;
    let keys: Vec<&str> = samples
        .iter()
        .filter(|s| s.name.starts_with("dcs_big_key_") || s.name == "dcs_hot_key_frequency")
        .map(|s| label(s, "key"))
        .collect();
    assert!(!keys.is_empty());
    for key in keys {
        assert!(
            key.len() == 16 && key.bytes().all(|b| b.is_ascii_hexdigit()),
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_analysis_off_reads_nothing() {
    let dir = Dir::new("keys-off");
    let (exporter, _sim) = start(&dir, "key_analysis = false\n").await;
    // Once the nodes are scanned, no key family.
    wait_for(Duration::from_secs(60), "scans", || async {
        let samples = scrape(&exporter.base).await;
        samples
            .iter()
            .any(|s| s.name == "dcs_scan_success" && s.value == 1.0)
            .then_some(())
    })
    .await;
    let samples = scrape(&exporter.base).await;
    assert!(
        !samples
            .iter()
            .any(|s| s.name.starts_with("dcs_big_key") || s.name.starts_with("dcs_key_")),
        "key series with key_analysis = false"
    );
}
