//! The exporter's own estimate of its API calls against the calls the simulator serves.

use super::*;

/// The value of `dcs_exporter_api_calls_per_interval` for the test cloud.
fn calls_per_interval(samples: &[Sample]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == "dcs_exporter_api_calls_per_interval" && s.label("cloud") == "test")
        .map(|s| s.value)
}

#[tokio::test]
async fn the_api_budget_matches_the_calls_the_simulator_serves() {
    // Five nodes of 1,500 sessions (two pages each), two slow logs, a DBSS resource, and the
    // instance list and each instance's three reads every 3 s. Key analysis reads once a
    // minute at most: too seldom to measure here (its term is tested in the library).
    let topology = harness::demo_topology(Duration::from_millis(50), 1500);
    let h = start_with(
        topology,
        "scan_interval = \"1s\"\ndiscovery_interval = \"3s\"",
        "key_analysis = false",
        "",
        |_| {},
    )
    .await;
    h.wait_ready().await;
    // Every node scanned, so the estimate counts their pages; the first jobs' polls are over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let samples = h
        .scrape_until(Duration::from_secs(10), |s| {
            calls_per_interval(s).is_some_and(|c| c > 0.0)
        })
        .await;
    let estimate = calls_per_interval(&samples).unwrap();
    let budget = h.in_process.store.load().api_budget("test").unwrap();
    // The pages of each node's stored list, as the simulator keeps it (1,000 a page).
    let lists = h.stored_lists();
    let pages: usize = lists
        .iter()
        .map(|(.., c)| c.len().div_ceil(1000).max(1))
        .sum();
    assert_eq!(budget.scan_starts, lists.len() as f64, "{budget:?}");
    assert_eq!(budget.session_pages, pages as f64, "{budget:?}");

    let window = Duration::from_secs(15);
    let before = h.sim.api_requests();
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let served = h.sim.api_requests() - before;
    let intervals = started.elapsed().as_secs_f64() / 1.0;
    let expected = estimate * intervals;
    let error = (served as f64 - expected).abs() / expected;
    assert!(
        error <= 0.10,
        "served {served} calls in {intervals:.1} intervals, estimated {expected:.0} ({estimate} an interval: {budget:?}): off by {:.1}%",
        error * 100.0
    );
    println!(
        "served {served}, estimated {expected:.1}: off by {:.1}%",
        error * 100.0
    );
}

/// `check-config` of `toml` (with the simulator's keys), to its end: its exit code and output.
async fn check_config(toml: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = crate::common::process::Dir::new("capacity");
    let file = dir.write("exporter.toml", toml);
    let mut all = vec!["check-config", "--config", file.to_str().unwrap()];
    all.extend_from_slice(args);
    let all: Vec<String> = all.into_iter().map(String::from).collect();
    // The simulator answers on this runtime while the binary runs on a blocking thread.
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        crate::common::process::run(&all, &[("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)])
    })
    .await
    .unwrap();
    (code, out + &err)
}

#[tokio::test]
async fn check_config_prints_the_budget_and_warns_when_the_fleet_does_not_fit() {
    let topology = harness::demo_topology(Duration::from_millis(50), 1500);
    let mut sim_config = SimConfig::new(Credentials::new(AK, SK), topology);
    sim_config.project_id = Some(PROJECT.into());
    let (sim, sim_url) = harness::serve_sim(sim_config).await;
    let instances = sim.with_state(|s| s.instance_ids());
    let cloud = |interval: &str, rate: &str| {
        format!(
            "[exporter]\nscan_interval = \"{interval}\"\n[[cloud]]\nname = \"sim\"\nproject_id = \"{PROJECT}\"\n\
             dcs_endpoint = \"{sim_url}\"\ndbss_endpoint = \"{sim_url}\"\nrequests_per_second = {rate}\n"
        )
    };
    let listed: String = instances
        .iter()
        .map(|id| format!("[[cloud.dcs_instance]]\nid = \"{id}\"\n"))
        .collect();

    // From the configuration: each instance as one node.
    let (code, out) = check_config(&(cloud("1m", "10") + &listed), &[]).await;
    assert_eq!(code, Some(0), "{out}");
    let n = instances.len();
    assert!(
        out.contains(&format!("for {n} instance(s), {n} node(s), {n} page(s)")),
        "{out}"
    );
    assert!(
        out.contains("requests/s needed of 10 requests/s configured"),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");

    // Looked up: the nodes that take clients, as the simulator has them, each with the pages
    // of its stored list.
    let nodes: Vec<(String, String)> = sim.with_state(|s| {
        let mut nodes = Vec::new();
        for id in &instances {
            for node in s.logical_nodes(id).unwrap().nodes {
                if node.is_access == Some(true) {
                    nodes.push((id.clone(), node.node_id.unwrap()));
                }
            }
        }
        nodes
    });
    let k = nodes.len();
    // Once scanned, each node's pages follow its stored list.
    let api = dcs_session_exporter::cloud::ApiClient::new(
        Credentials::new(AK, SK),
        PROJECT,
        dcs_session_exporter::cloud::Endpoints::single(&sim_url).unwrap(),
        Default::default(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for (instance, node) in &nodes {
        let job = api
            .start_scan(instance, node, true, deadline)
            .await
            .unwrap();
        let poll = dcs_session_exporter::cloud::dcs::PollOptions::default();
        api.wait_for_job(&job, &poll, deadline).await.unwrap();
    }
    let toml = cloud("1m", "10") + "[cloud.discovery]\n";
    let pages: usize = sim.with_state(|s| {
        let now = SystemTime::now();
        nodes
            .iter()
            .map(|(i, n)| {
                s.stored_sessions(i, n, now)
                    .unwrap()
                    .unwrap()
                    .1
                    .len()
                    .div_ceil(1000)
            })
            .sum()
    });
    assert!(pages > k, "some node holds more than a page");
    let (code, out) = check_config(&toml, &["--discover"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "for {n} instance(s), {k} node(s), {pages} page(s)"
        )),
        "{out}"
    );

    // A rate that cannot carry them: the warning names the cloud and what it needs.
    let (code, out) = check_config(&(cloud("1s", "0.5") + &listed), &[]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("warning: cloud sim needs"), "{out}");
    assert!(
        out.contains("more than its requests_per_second (0.5)"),
        "{out}"
    );
    assert!(!out.contains(SK), "no secret is printed");
}

/// The worked example of docs/capacity.md, from the model: the largest fleet of two shapes at
/// four rates and two intervals, every feature on (slow log, key analysis every 10 minutes,
/// discovery every 10 minutes listing the project's instances), no DBSS resource.
fn worked_example() -> String {
    use dcs_session_exporter::capacity::{Fleet, Schedule, largest_fleet};
    let shapes = [
        ("HA, 2 nodes of at most 1,000 sessions", 2, 2),
        ("Proxy Cluster, 3 proxies of 2,500 sessions", 3, 9),
    ];
    let rates = [10.0, 20.0, 50.0, 100.0];
    let mut table = String::from(
        "| instance shape | scan_interval | 10 requests/s | 20 requests/s | 50 requests/s | 100 requests/s |\n\
         |---|---|---|---|---|---|\n",
    );
    for (name, nodes, pages) in shapes {
        let shape = Fleet {
            instances: 1,
            listed_instances: 1,
            nodes,
            pages,
            slow_log_instances: 1,
            analysed_instances: 1,
            dbss_resources: 0,
        };
        for seconds in [30, 60] {
            let mut row = format!("| {name} | {seconds}s |");
            for rate in rates {
                let schedule = Schedule {
                    scan_interval: Duration::from_secs(seconds),
                    discovery_interval: Duration::from_secs(600),
                    page_size: 1000,
                    requests_per_second: rate,
                    polls_per_job: 1,
                    lists_instances: true,
                    slow_log: true,
                    key_analysis_interval: Some(Duration::from_secs(600)),
                    key_analysis_trigger: None,
                };
                let n = largest_fleet(&schedule, &shape);
                row.push_str(&format!(" {n} ({} nodes) |", n * nodes));
            }
            table.push_str(&row);
            table.push('\n');
        }
    }
    table
}

#[test]
fn the_worked_example_in_the_docs_is_the_models() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/capacity.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let table = worked_example();
    assert!(
        doc.contains(&table),
        "docs/capacity.md's worked example differs from the model; the model's:\n{table}"
    );
}
