use crate::session::{ClientInfo, PageSink};
use std::sync::Arc;

use super::*;

fn settings(max_client_addrs: usize, top_clients: usize) -> Arc<AggregateSettings> {
    Arc::new(AggregateSettings {
        max_client_addrs,
        max_client_names: 20,
        max_client_commands: 20,
        idle_threshold_seconds: 3600,
        native_histograms: false,
        top_clients,
        client_addr_field: ClientAddrField::Addr,
        idle_buckets: DEFAULT_SECONDS_BUCKETS.to_vec().into(),
        age_buckets: DEFAULT_SECONDS_BUCKETS.to_vec().into(),
        bytes_buckets: DEFAULT_BYTES_BUCKETS.to_vec().into(),
    })
}

fn session(addr: &str, db: &str, idle: i64, omem: i64) -> ClientInfo {
    ClientInfo {
        addr: Some(addr.into()),
        db: Some(db.into()),
        user: Some("default".into()),
        idle: Some(idle),
        age: Some(idle + 10),
        omem: Some(omem),
        qbuf: Some(0),
        sub: Some(1),
        psub: Some(0),
        name: Some("app".into()),
        cmd: Some("get".into()),
        ..Default::default()
    }
}

#[test]
fn counts_fold_and_tops() {
    let sessions = vec![
        session("10.0.0.1:1", "0", 5, 0),
        session("10.0.0.1:2", "0", 700, 2048),
        session("10.0.0.1:3", "1", 3, 0),
        session("10.0.0.2:1", "0", 90_000, 0),
        session("10.0.0.2:2", "0", 1, 5_000_000),
        session("10.0.0.3:1", "0", 0, 0),
    ];
    let a = aggregate(settings(1, 2), &sessions);
    assert_eq!(a.sessions, 6);
    let counts: Vec<(&str, &str, u64)> = a
        .clients
        .iter()
        .map(|c| (c.client_addr(), c.db(), c.sessions))
        .collect();
    assert_eq!(
        counts,
        [
            ("10.0.0.1", "0", 2),
            ("10.0.0.1", "1", 1),
            ("other", "0", 3)
        ]
    );
    assert_eq!(a.idle.count, 6);
    assert_eq!(a.idle.buckets()[0], (1.0, 2), "idle 0 and 1 are <= 1");
    assert_eq!(
        a.output_memory.buckets()[0],
        (0.0, 4),
        "le=0 holds empty buffers"
    );
    assert_eq!(a.output_memory_max, 5_000_000);
    assert_eq!(a.channel_subscriptions, 6);
    let idle: Vec<i64> = a.top_idle.iter().map(|t| t.value).collect();
    assert_eq!(idle, [90_000, 700]);
    assert_eq!(a.top_idle[0].client_addr, "10.0.0.2:1");
    let omem: Vec<i64> = a.top_output_memory.iter().map(|t| t.value).collect();
    assert_eq!(omem, [5_000_000, 2048]);
    // Page order does not change the result.
    let mut reversed = sessions.clone();
    reversed.reverse();
    assert_eq!(aggregate(settings(1, 2), &reversed), a);
    // top_clients = 0 turns the top lists off.
    assert!(aggregate(settings(50, 0), &sessions).top_idle.is_empty());
}

#[test]
fn top_lists_never_repeat_a_label_set() {
    let socket = |id: &str, idle: i64| ClientInfo {
        id: Some(id.into()),
        ..session("/var/run/redis.sock:0", "0", idle, 0)
    };
    let sessions = vec![
        socket("1", 50),
        socket("2", 90),
        socket("3", 70),
        session("10.0.0.1:1", "0", 60, 0),
    ];
    let a = aggregate(settings(50, 3), &sessions);
    let tops: Vec<(&str, i64)> = a
        .top_idle
        .iter()
        .map(|t| (t.client_addr.as_str(), t.value))
        .collect();
    assert_eq!(tops, [("/var/run/redis.sock:0", 90), ("10.0.0.1:1", 60)]);
}

#[test]
fn restart_forgets() {
    let mut a = Aggregator::new(settings(50, 5));
    a.accept(&session("10.0.0.1:1", "0", 5, 0).view());
    a.restart();
    a.accept(&session("10.0.0.9:1", "2", 5, 0).view());
    let r = a.finish();
    assert_eq!(r.sessions, 1);
    assert_eq!(r.clients[0].client_addr(), "10.0.0.9");
}
