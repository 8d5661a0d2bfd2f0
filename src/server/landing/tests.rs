use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{DOCS_URL, LISTED_NODES, page};
use crate::aggregate::{AggregateSettings, ClientAddrField, aggregate};
use crate::config::{DEFAULT_BYTES_BUCKETS, DEFAULT_SECONDS_BUCKETS};
use crate::session::ClientInfo;
use crate::snapshot::{
    Attempt, Failure, NodeData, NodeInfo, NodeKey, NodeState, Reason, Snapshot, Stage,
};

const STALE_AFTER: Duration = Duration::from_secs(300);

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// `sessions` sessions, the last `idle` of them idle for two hours.
fn sessions(sessions: u64, idle: u64) -> Vec<ClientInfo> {
    (0..sessions)
        .map(|i| ClientInfo {
            addr: Some(format!("10.0.{}.{}:{}", i / 250, i % 250, 40_000 + i)),
            idle: Some(if i >= sessions - idle { 7_200 } else { 1 }),
            age: Some(8_000),
            ..Default::default()
        })
        .collect()
}

/// A node scanned `scanned_ago` before [`now`], with `sessions` sessions against `max_clients`.
fn scanned(
    name: &str,
    clients: &[ClientInfo],
    max_clients: Option<u64>,
    scanned_ago: u64,
) -> NodeState {
    let settings = Arc::new(AggregateSettings {
        max_client_addrs: 10,
        max_client_names: 10,
        max_client_commands: 10,
        idle_threshold_seconds: 3_600,
        top_clients: 3,
        client_addr_field: ClientAddrField::Addr,
        idle_buckets: DEFAULT_SECONDS_BUCKETS.to_vec().into(),
        age_buckets: DEFAULT_SECONDS_BUCKETS.to_vec().into(),
        bytes_buckets: DEFAULT_BYTES_BUCKETS.to_vec().into(),
        native_histograms: false,
    });
    let at = now() - Duration::from_secs(scanned_ago);
    NodeState {
        info: NodeInfo {
            instance_name: "orders".into(),
            node_name: name.into(),
            max_clients,
            ..Default::default()
        },
        last_attempt: Some(Attempt {
            finished: at,
            duration: Duration::from_millis(1_500),
            failure: None,
        }),
        data: Some(Arc::new(NodeData {
            aggregate: aggregate(settings, clients),
            data_time: Some(at - Duration::from_secs(2)),
            scanned: at,
        })),
        ..Default::default()
    }
}

fn failed(name: &str, message: &str) -> NodeState {
    NodeState {
        info: NodeInfo {
            instance_name: "orders".into(),
            node_name: name.into(),
            ..Default::default()
        },
        last_attempt: Some(Attempt {
            finished: now() - Duration::from_secs(10),
            duration: Duration::from_secs(2),
            failure: Some(Failure::new(
                Stage::Scan,
                Reason::ApiCode("DCS.5000".into()),
                message,
            )),
        }),
        ..Default::default()
    }
}

fn snapshot(nodes: Vec<NodeState>) -> Snapshot {
    let mut snap = Snapshot {
        scan_interval: Some(Duration::from_secs(60)),
        idle_session_threshold: Some(Duration::from_secs(3_600)),
        ..Default::default()
    };
    for node in nodes {
        let key = NodeKey {
            instance_id: "inst-1".into(),
            node_id: format!("id-{}", node.info.node_name).into(),
        };
        snap.nodes.insert(key, Arc::new(node));
    }
    snap
}

fn render(snap: &Snapshot) -> String {
    page(snap, "/metrics", STALE_AFTER, None, now())
}

/// Where `text` first is on the page.
fn position(page: &str, text: &str) -> usize {
    page.find(text)
        .unwrap_or_else(|| panic!("{text} is not on the page"))
}

#[test]
fn lists_the_worst_nodes_first_and_counts_the_rest() {
    // Sixty nodes from 0% to 59% of maxclients, one at 95% and one whose scan failed.
    let mut nodes: Vec<NodeState> = (0..60)
        .map(|i| {
            scanned(
                &format!("node-{i:03}"),
                &sessions(i * 10, 0),
                Some(1_000),
                5,
            )
        })
        .collect();
    nodes.push(scanned("node-full", &sessions(950, 0), Some(1_000), 5));
    nodes.push(failed("node-failed", "scan refused"));
    let page = render(&snapshot(nodes));

    assert_eq!(page.matches("<tr class=\"node\">").count(), LISTED_NODES);
    let failed = position(&page, ">node-failed<");
    let full = position(&page, ">node-full<");
    let busiest = position(&page, ">node-059<");
    assert!(failed < full && full < busiest, "worst first");
    let listed_last = format!(">node-{:03}<", 60 - (LISTED_NODES - 2));
    assert!(page.contains(&listed_last));
    assert!(
        !page.contains(">node-000<"),
        "the least busy are counted, not listed"
    );
    assert!(
        page.contains(
            "And <b>12</b> more nodes (0 failed, 0 pending), none fuller than 11% of maxclients"
        ),
        "{page}"
    );
    assert!(page.contains(
        "<b>62</b><span class=\"ok\">61 ok</span>, <span class=\"failed\">1 failed</span>"
    ));
}

#[test]
fn shows_sessions_against_maxclients_the_idle_sessions_and_the_oldest_data() {
    let page = render(&snapshot(vec![
        scanned("node-a", &sessions(9_500, 1_234), Some(10_000), 5),
        scanned("node-b", &sessions(100, 0), None, 280),
    ]));
    assert!(page.contains(
        "9,500 / 10,000 (95%)<div class=\"bar\"><span class=\"full\" style=\"width:95%\">"
    ));
    // A node whose limit is unknown is held to DCS's default, as the alert holds it.
    assert!(page.contains(
        "100 / 10,000 (1%)<small class=\"below\">maxclients not known: DCS's default</small>"
    ));
    assert!(page.contains("<th>idle &gt; 1h</th>"));
    assert!(page.contains("<td class=\"num idle\">1,234</td>"));
    assert!(page.contains("sessions idle &gt; 1h<b>1,234</b>on 1 nodes"));
    assert!(page.contains("sessions<b>9,600</b>"));
    assert!(page.contains("nodes at 80% of maxclients or more<b>1</b>"));
    // The stored list of the older scan is 282 s old.
    assert!(
        page.contains("oldest data<b>4m 42s</b>scans every 1m"),
        "{page}"
    );
    assert!(page.contains("<a href=\"/metrics\">"));
    assert!(page.contains(&format!("<a href=\"{DOCS_URL}\">")));
    assert!(DOCS_URL.starts_with("https://"), "{DOCS_URL}");
}

#[test]
fn a_stale_node_shows_how_old_its_data_is_and_no_sessions() {
    let mut node = scanned("node-stale", &sessions(40, 0), Some(100), 900);
    node.last_attempt = failed("x", "list refused").last_attempt;
    let page = render(&snapshot(vec![node]));
    assert!(
        page.contains("<td class=\"fit stale\">15m 2s, stale</td>"),
        "{page}"
    );
    assert!(!page.contains("40 / 100"));
    assert!(page.contains("scan: list refused"));
}

#[test]
fn upstream_text_is_escaped() {
    let page = render(&snapshot(vec![failed(
        "<img src=x onerror=alert(1)>",
        "bad \"quote\" & 'tick' <b>",
    )]));
    assert!(!page.contains("<img") && !page.contains("<b>\""));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(page.contains("bad &quot;quote&quot; &amp; &#39;tick&#39; &lt;b&gt;"));
    assert!(!page.contains("<script"), "the page runs no script");
}

#[test]
fn a_fleet_of_thousands_keeps_the_page_small() {
    let clients = sessions(20, 2);
    let nodes = (0..5_000)
        .map(|i| scanned(&format!("node-{i:04}"), &clients, Some(10_000), 5))
        .collect();
    let page = render(&snapshot(nodes));
    assert_eq!(page.matches("<tr class=\"node\">").count(), LISTED_NODES);
    assert!(page.contains("And <b>4,950</b> more nodes"));
    assert!(page.len() < 64 * 1024, "{} bytes", page.len());
}
