use std::time::Duration;

use super::*;

/// The defaults: scans every minute, discovery and key analysis every ten.
fn schedule(requests_per_second: f64) -> Schedule {
    Schedule {
        scan_interval: Duration::from_secs(60),
        discovery_interval: Duration::from_secs(600),
        page_size: 1000,
        requests_per_second,
        polls_per_job: 1,
        lists_instances: true,
        slow_log: true,
        key_analysis_interval: Some(Duration::from_secs(600)),
        key_analysis_trigger: None,
    }
}

/// Ten instances of two nodes of 1,500 sessions, every feature on, one DBSS resource.
fn fleet() -> Fleet {
    let mut fleet = Fleet {
        instances: 10,
        listed_instances: 10,
        slow_log_instances: 10,
        analysed_instances: 10,
        dbss_resources: 1,
        ..Fleet::default()
    };
    for _ in 0..20 {
        fleet.add_node(Some(1500), 1000);
    }
    fleet
}

#[test]
fn a_list_is_read_in_pages_of_the_page_size_and_at_least_one() {
    assert_eq!(pages(0, 1000), 1);
    assert_eq!(pages(1000, 1000), 1);
    assert_eq!(pages(1001, 1000), 2);
    assert_eq!(pages(10_000, 1000), 10);
    assert_eq!(pages(5, 0), 5, "a page size of 0 reads one session a page");
}

#[test]
fn a_job_as_long_as_the_ones_before_is_polled_once() {
    let poll = PollOptions::default();
    for seconds in [0.05, 1.0, 3.0, 30.0] {
        let job = Duration::from_secs_f64(seconds);
        assert_eq!(polls_per_job(job, &poll, true), 1, "{job:?}");
    }
    // An account's first job: looks at 0.5 s, 1.25 s, 2.375 s, 4.06 s.
    assert_eq!(polls_per_job(Duration::from_secs(3), &poll, false), 4);
    assert_eq!(polls_per_job(Duration::from_millis(50), &poll, false), 1);
}

#[test]
fn the_budget_counts_every_call_of_the_schedule() {
    let b = budget(&schedule(10.0), &fleet());
    assert_eq!(b.scan_starts, 20.0);
    assert_eq!(b.job_polls, 20.0);
    assert_eq!(b.session_pages, 40.0);
    assert_eq!(b.slow_logs, 10.0);
    assert_eq!(b.dbss_polls, 1.0);
    // One page of the instance list and three reads an instance, a tenth of them a minute.
    assert!((b.discovery - 3.1).abs() < 1e-9, "{b:?}");
    assert!((b.statistics - 0.1).abs() < 1e-9, "{b:?}");
    assert!((b.key_analysis - 3.0).abs() < 1e-9, "{b:?}");
    assert_eq!(b.key_analysis_trigger, 0.0);
    assert!((b.total() - 97.2).abs() < 1e-9, "{b:?}");
    assert!((schedule(10.0).needed_rate(&b) - 1.62).abs() < 1e-9);
    assert!(schedule(10.0).fits(&b));
    assert!(!schedule(1.0).fits(&b));
}

#[test]
fn features_turned_off_cost_nothing() {
    let mut s = schedule(10.0);
    s.key_analysis_interval = None;
    s.lists_instances = false;
    let f = Fleet {
        slow_log_instances: 0,
        dbss_resources: 0,
        ..fleet()
    };
    let b = budget(&s, &f);
    assert_eq!(
        b.key_analysis + b.statistics + b.slow_logs + b.dbss_polls,
        0.0
    );
    // Discovery reads only each instance's details, parameters and nodes.
    assert!((b.discovery - 3.0).abs() < 1e-9, "{b:?}");
    assert!((b.total() - 83.0).abs() < 1e-9, "{b:?}");
}

#[test]
fn triggered_analyses_add_their_starts_and_details_reads() {
    let mut s = schedule(10.0);
    s.key_analysis_trigger = Some(Trigger {
        kinds: 2,
        interval: Duration::from_secs(86_400),
    });
    // Ten instances, two analyses a day each, two calls an analysis: 40 calls a day.
    let b = budget(&s, &fleet());
    assert!(
        (b.key_analysis_trigger - 40.0 * 60.0 / 86_400.0).abs() < 1e-9,
        "{b:?}"
    );
    // Without key analysis no analysis is started.
    s.key_analysis_interval = None;
    assert_eq!(budget(&s, &fleet()).key_analysis_trigger, 0.0);
}

#[test]
fn the_largest_fleet_is_the_last_that_fits() {
    let s = schedule(10.0);
    let shape = fleet();
    let largest = largest_fleet(&s, &shape);
    assert!(s.fits(&budget(&s, &shape.scaled(largest, &s))));
    assert!(!s.fits(&budget(&s, &shape.scaled(largest + 1, &s))));
    // 9.6 calls an instance a minute and 1.2 for the fleet: 62 instances in 600 calls.
    assert_eq!(largest, 62);
    // Scaled in proportion: two nodes and four pages an instance.
    let scaled = shape.scaled(largest, &s);
    assert_eq!(scaled.nodes, 2 * largest);
    assert_eq!(scaled.pages, 4 * largest);
    assert_eq!(scaled.dbss_resources, 1);
    // A rate that does not carry even the fleet's fixed calls carries no instance.
    let s = Schedule {
        requests_per_second: 0.01,
        ..schedule(0.01)
    };
    assert_eq!(largest_fleet(&s, &shape), 0);
    // A fleet of no instances plans instances of one node of one page, with the features the
    // schedule turns on.
    let mut s = schedule(10.0);
    s.slow_log = false;
    let three = Fleet::default().scaled(3, &s);
    assert_eq!(
        (three.nodes, three.pages, three.listed_instances),
        (3, 3, 3)
    );
    assert_eq!((three.slow_log_instances, three.analysed_instances), (0, 3));
}

#[test]
fn the_schedule_follows_the_configuration() {
    let config = crate::config::Config::from_toml(
        r#"
[exporter]
scan_interval = "30s"
discovery_interval = "5m"
page_size = 500

[[cloud]]
name = "prod"
region = "cn-north-4"
project_id = "p"
requests_per_second = 20
key_analysis_interval = "15m"
[cloud.discovery]
"#,
    )
    .unwrap();
    let s = Schedule::of(&config.exporter, &config.clouds[0]);
    assert_eq!(s.scan_interval, Duration::from_secs(30));
    assert_eq!(s.discovery_interval, Duration::from_secs(300));
    assert_eq!(s.page_size, 500);
    assert_eq!(s.requests_per_second, 20.0);
    assert_eq!(s.polls_per_job, 1);
    assert!(s.lists_instances);
    assert!(s.slow_log);
    assert_eq!(s.key_analysis_interval, Some(Duration::from_secs(900)));
    assert_eq!(s.key_analysis_trigger, None);

    let triggered = crate::config::Config::from_toml(
        r#"
[[cloud]]
name = "prod"
region = "cn-north-4"
project_id = "p"
key_analysis_trigger = ["big", "hot"]
key_analysis_trigger_interval = "12h"
[cloud.discovery]
"#,
    )
    .unwrap();
    let s = Schedule::of(&triggered.exporter, &triggered.clouds[0]);
    assert_eq!(
        s.key_analysis_trigger,
        Some(Trigger {
            kinds: 2,
            interval: Duration::from_secs(12 * 3600)
        })
    );
}

#[test]
fn the_report_says_the_budget_the_rate_and_the_largest_fleet() {
    let plan = CloudPlan {
        schedule: schedule(10.0),
        fleet: fleet(),
    };
    let report = plan.report();
    assert!(
        report.contains("for 10 instance(s), 20 node(s), 40 page(s)"),
        "{report}"
    );
    assert!(report.contains("session pages 40"), "{report}");
    assert!(report.contains("discovery 3.1"), "{report}");
    assert!(
        report.contains("total 97.2 calls: 1.62 requests/s needed of 10 requests/s"),
        "{report}"
    );
    assert!(report.contains("(16.2%)"), "{report}");
    assert!(
        report.contains("the largest fleet of this shape that fits: 62 instance(s), 124 node(s)"),
        "{report}"
    );
}
