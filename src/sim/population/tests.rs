//! Tests of a node's population: its skews, its churn, idle timeouts, and the sessions with a
//! role (replication links, monitors, tracking clients).

use super::*;
use crate::session::ClientInfo;

fn population(target: u32) -> Population {
    let mut rng = StdRng::seed_from_u64(1);
    let profile = Arc::new(ClientProfile::generate(&mut rng, 6, None));
    Population::new(9, profile, target, 1_800_000_000_000)
}

#[test]
fn a_timeout_closes_idle_sessions_but_not_subscribers_blocked_ones_or_monitors() {
    let idle_past = |p: &Population, seconds: i64| {
        p.sessions()
            .iter()
            .filter(|s| s.sub == 0 && s.psub == 0 && !s.blocked && !s.monitor)
            .filter(|s| p.now_ms - s.last_command_ms > seconds * 1000)
            .count()
    };
    let never = population(3000);
    assert!(idle_past(&never, 3600) > 100, "idle sessions pile up");
    let mut reaped = population(3000).with_idle_timeout(3600);
    assert_eq!(idle_past(&reaped, 3600), 0);
    reaped.advance_to(reaped.now_ms + 2 * 3_600_000);
    assert_eq!(idle_past(&reaped, 3600), 0, "still none after two hours");
    // Blocked consumers wait on, past the timeout, as Redis lets them.
    assert!(
        reaped
            .sessions()
            .iter()
            .any(|s| s.blocked && reaped.now_ms - s.last_command_ms > 3_600_000)
    );
    assert!(
        reaped.len() > 2000,
        "the node keeps its load: {}",
        reaped.len()
    );
}

#[test]
fn replication_links_monitors_and_tracking_in_their_shares() {
    let mut p = population(5000).with_link("192.168.1.11", Link::Replica);
    let at = p.now_ms + 500;
    let infos: Vec<ClientInfo> = p
        .sessions()
        .iter()
        .map(|s| render(p.profile(), s, at))
        .collect();
    let with = |flag: char| {
        infos
            .iter()
            .filter(|c| c.flags.as_deref().unwrap().contains(flag))
            .collect::<Vec<_>>()
    };
    let replicas = with('S');
    assert_eq!(replicas.len(), 1);
    assert!(
        replicas[0]
            .addr
            .as_deref()
            .unwrap()
            .starts_with("192.168.1.11:")
    );
    assert_eq!(replicas[0].cmd.as_deref(), Some("replconf"));
    let monitors = with('O');
    assert!((2..=10).contains(&monitors.len()), "{}", monitors.len());
    assert!(monitors.iter().all(|c| c.cmd.as_deref() == Some("monitor")));
    let tracking = with('t').len();
    assert!((60..=130).contains(&tracking), "{tracking}");
    // A kill-all ends the link, and the replica connects again at once.
    let old = replicas[0].id.clone();
    p.clear();
    assert_eq!(p.sessions().len(), 1);
    let link = render(p.profile(), &p.sessions()[0], at);
    assert_ne!(link.id, old);
    assert_eq!(link.flags.as_deref(), Some("S"));
}

#[test]
fn skewed_and_realistic() {
    let p = population(5000);
    let at = 1_800_000_000_000;
    let infos: Vec<ClientInfo> = p
        .sessions()
        .iter()
        .map(|s| render(p.profile(), s, at))
        .collect();
    let db0 = infos
        .iter()
        .filter(|c| c.db.as_deref() == Some("0"))
        .count();
    assert!((3000..4000).contains(&db0), "db0 {db0}");
    let zero_omem = infos.iter().filter(|c| c.omem == Some(0)).count();
    assert!(zero_omem > 4800, "{zero_omem}");
    assert!(infos.iter().any(|c| c.omem.unwrap() > 1 << 20));
    assert!(infos.iter().any(|c| c.sub.unwrap() > 0));
    let ips: HashSet<_> = infos
        .iter()
        .map(|c| {
            c.addr
                .as_deref()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(ips.len() <= 6);
    assert!(infos.iter().all(|c| c.age >= c.idle));
    let peers: HashSet<_> = infos.iter().map(|c| c.peer.clone()).collect();
    assert_eq!(peers.len(), infos.len(), "peers are unique");
}

#[test]
fn churn_keeps_the_load_and_ages_sessions() {
    let mut p = population(2000);
    let before: HashSet<u64> = p.sessions().iter().map(|s| s.id).collect();
    p.advance_to(1_800_000_000_000 + 3_600_000);
    let after: HashSet<u64> = p.sessions().iter().map(|s| s.id).collect();
    assert!((1900..=2100).contains(&p.len()), "{}", p.len());
    assert!(before.difference(&after).count() > 50, "some left");
    assert!(after.difference(&before).count() > 50, "some arrived");
    let peer = peer_address(p.profile(), &p.sessions()[0]);
    assert_eq!(p.remove_peers(&HashSet::from([peer])), 1);
    assert!(p.clear() > 0);
    assert!(p.is_empty());
}
