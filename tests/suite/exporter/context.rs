//! Each instance's context: its limits, details and parameters, and the slow commands of its
//! slow log.

use super::*;

#[tokio::test]
async fn limits_and_context_of_each_instance_from_its_details_and_parameters() {
    let h = start_with(
        quiet_topology(20),
        SCAN_ONCE,
        r#"export_tags = ["env", "team", "cost-center"]"#,
        "",
        |_| {},
    )
    .await;
    h.wait_ready().await;
    let samples = h.scrape().await;
    let mut pass_through = BTreeSet::new();
    for (instance_id, nodes) in instances_and_nodes(&h.sim) {
        let details = h.sim.with_state(|s| s.show_instance(&instance_id)).unwrap();
        let configs = h
            .sim
            .with_state(|s| s.configurations(&instance_id))
            .unwrap();
        let info: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == "dcs_instance_info" && s.label("instance_id") == instance_id)
            .collect();
        assert_eq!(info.len(), 1, "{instance_id}");
        let info = info[0];
        let tag = |key: &str| {
            details
                .tags
                .iter()
                .find(|t| t.key.as_deref() == Some(key))
                .and_then(|t| t.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            info.label("instance_name"),
            details.name.as_deref().unwrap()
        );
        assert_eq!(
            info.label("engine_version"),
            details.engine_version.as_deref().unwrap()
        );
        assert_eq!(
            info.label("spec_code"),
            details.spec_code.as_deref().unwrap()
        );
        let spec = details.spec_code.as_deref().unwrap();
        let architecture = if spec.contains(".proxy.") {
            "proxy"
        } else {
            "ha"
        };
        assert_eq!(info.label("architecture"), architecture, "{spec}");
        assert_eq!(
            info.label("enterprise_project_id"),
            details.enterprise_project_id.as_deref().unwrap()
        );
        let through = details.transparent_client_ip_enable.unwrap();
        assert_eq!(info.label("client_ip_pass_through"), through.to_string());
        pass_through.insert(through);
        assert_eq!(info.label("tag_env"), tag("env"));
        assert_eq!(info.label("tag_team"), tag("team"));
        assert!(!tag("env").is_empty() && !tag("team").is_empty());
        // Listed but not carried: present and empty, so every series has the same labels.
        assert_eq!(
            info.labels.get("tag_cost_center").map(String::as_str),
            Some("")
        );
        assert_eq!(info.value, 1.0);
        for node in nodes {
            let id = node.node_id.clone().unwrap();
            assert_eq!(
                value(&samples, "dcs_node_max_clients", &id),
                configs.number("maxclients").unwrap() as f64
            );
            assert_eq!(
                value(&samples, "dcs_node_idle_timeout_seconds", &id),
                configs.number("timeout").unwrap() as f64
            );
            let cloud_eye = node.dimensions[1]["value"].as_str().unwrap();
            let node_info = of(&samples, "dcs_node_info", &id);
            assert_eq!(node_info[0].label("cloud_eye_node"), cloud_eye);
        }
    }
    // Scanned once an hour: no scan overran.
    assert!(
        samples
            .iter()
            .filter(|s| s.name == "dcs_scan_skipped_total")
            .all(|s| s.value == 0.0)
    );
    assert_eq!(
        samples
            .iter()
            .find(|s| s.name == "dcs_exporter_scan_interval_seconds")
            .map(|s| s.value),
        Some(3600.0)
    );
    // The demo has an instance of each kind: limits and timeouts differ between them.
    assert_eq!(pass_through, BTreeSet::from([true, false]));
    let limits: BTreeSet<u64> = samples
        .iter()
        .filter(|s| s.name == "dcs_node_max_clients")
        .map(|s| s.value as u64)
        .collect();
    assert_eq!(limits, BTreeSet::from([10_000, 20_000]));
}

/// Slow commands by `(shard, client_addr, command)`.
type SlowCounts = BTreeMap<(String, String, String), f64>;

/// `dcs_slow_commands_total` and the duration histogram of an instance, as computed here from
/// the simulator's slow log: every entry a window returned after the first (which only tells
/// the exporter what was there before it started).
fn expected_slow_commands(sim: &Simulator, instance_id: &str) -> (SlowCounts, Vec<f64>) {
    let (entries, _) = sim
        .with_state(|s| s.slowlog_entries(instance_id, SystemTime::now()))
        .unwrap();
    let mut counts = BTreeMap::new();
    let mut durations = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.first_served.is_some_and(|w| w >= 1))
    {
        let command = e.command.split(' ').next().unwrap().to_lowercase();
        let key = (
            e.shard.clone().unwrap_or_default(),
            e.client_ip.clone(),
            command,
        );
        *counts.entry(key).or_insert(0.0) += 1.0;
        // The service gives whole milliseconds.
        durations.push(e.duration_ms.round() / 1000.0);
    }
    (counts, durations)
}

#[tokio::test]
async fn slow_commands_by_client_count_each_entry_of_the_slow_logs_once() {
    let mut topology = quiet_topology(20);
    for i in &mut topology.instances {
        i.slow_commands_per_minute = 240.0;
    }
    // The first instance keeps no slow log: its details say so, and it is never asked.
    topology.instances[0].slow_log = false;
    let h = start(
        topology,
        r#"scan_interval = "1s"
first_scan_spread = "0s""#,
    )
    .await;
    h.wait_ready().await;
    let ids = h.sim.with_state(|s| s.instance_ids());
    let windows = |id: &str| {
        h.sim
            .with_state(|s| s.slowlog_entries(id, SystemTime::now()))
            .unwrap()
            .1
    };
    let until = Instant::now() + Duration::from_secs(30);
    while windows(&ids[1]) < 4 {
        assert!(
            Instant::now() < until,
            "four reads of the slow log within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A read may land between computing and scraping: compare again until both agree.
    let mut last = None;
    for _ in 0..50 {
        let (counts, durations) = expected_slow_commands(&h.sim, &ids[1]);
        let samples = h.scrape().await;
        let got: SlowCounts = samples
            .iter()
            .filter(|s| s.name == "dcs_slow_commands_total" && s.label("instance_id") == ids[1])
            .map(|s| {
                let key = (
                    s.label("shard").to_string(),
                    s.label("client_addr").to_string(),
                    s.label("command").to_string(),
                );
                (key, s.value)
            })
            .collect();
        let histogram = |suffix: &str, le: Option<&str>| {
            samples
                .iter()
                .find(|s| {
                    s.name == format!("dcs_slow_command_duration_seconds{suffix}")
                        && s.label("instance_id") == ids[1]
                        && le.is_none_or(|le| s.label("le") == le)
                })
                .map(|s| s.value)
        };
        let sum: f64 = durations.iter().sum();
        let within_50ms = durations.iter().filter(|d| **d <= 0.05).count() as f64;
        let agree = got == counts
            && histogram("_count", None) == Some(durations.len() as f64)
            && histogram("_sum", None).is_some_and(|s| (s - sum).abs() < 1e-6)
            && histogram("_bucket", Some("0.05")) == Some(within_50ms);
        if agree {
            assert!(durations.len() >= 5, "entries counted: {}", durations.len());
            // A cluster's entries carry their shard; the log's history was there before.
            let shards: BTreeSet<&str> = counts.keys().map(|(s, _, _)| s.as_str()).collect();
            assert!(shards.len() > 1 && !shards.contains(""), "{shards:?}");
            let (entries, _) = h
                .sim
                .with_state(|s| s.slowlog_entries(&ids[1], SystemTime::now()))
                .unwrap();
            assert!(entries.iter().any(|e| e.first_served == Some(0)));
            assert_eq!(
                windows(&ids[0]),
                0,
                "the instance without a slow log is not asked"
            );
            assert!(samples.iter().all(|s| !(s.name.starts_with("dcs_slow_")
                && s.label("instance_id") == ids[0])));
            return;
        }
        last = Some((got, counts, histogram("_count", None), durations.len()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the slow-command counters never matched the simulator's slow log: {last:?}");
}
