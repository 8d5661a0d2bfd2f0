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
    let pages: usize = lists.iter().map(|(.., c)| c.len().div_ceil(1000).max(1)).sum();
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
