//! A flag of undocumented spelling (`support_slow_log_flag`) read permissively, unknown taken
//! as "try", and the read itself learnt from: through the real binary against the simulator,
//! whose details spell the flag as each instance's topology says.

use crate::common::{harness, process};

use std::time::Duration;

use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::sim::SimConfig;
use dcs_session_exporter::sim::topology::{InstanceSpec, SlowLogFlag};
use harness::{Sample, scrape, wait_for};
use process::{Dir, Exporter};

const AK: &str = "AKUPSTREAMFLAGS";
const SK: &str = "SKupstreamflags0000000000000001";
const ENV: [(&str, &str); 2] = [("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)];

/// An HA instance of the demo, named `name`, keeping a slow log or not, its flag spelt `flag`.
fn instance(template: &InstanceSpec, name: &str, keeps: bool, flag: SlowLogFlag) -> InstanceSpec {
    InstanceSpec {
        name: name.into(),
        id: None,
        slow_log: keeps,
        slow_log_flag: flag,
        slow_commands_per_minute: 60.0,
        sessions_per_node: 10,
        ..template.clone()
    }
}

fn sum(samples: &[Sample], name: &str, instance_id: &str, more: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && s.label("instance_id") == instance_id)
        .filter(|s| more.iter().all(|(k, v)| s.label(k) == *v))
        .map(|s| s.value)
        .sum()
}

fn gauge(samples: &[Sample], name: &str, instance_id: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && s.label("instance_id") == instance_id)
        .map(|s| s.value)
}

// An independent fake cloud answering "1" got no slow-log read, no log line and no metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slow_log_flag_is_read_in_any_spelling_and_unknown_means_try() {
    let mut topology = harness::quick_topology();
    let template = topology.instances[0].clone();
    topology.instances = vec![
        instance(&template, "flag-one", true, SlowLogFlag::Digit),
        instance(&template, "flag-null", true, SlowLogFlag::Null),
        instance(&template, "flag-absent", true, SlowLogFlag::Absent),
        instance(&template, "flag-bool", true, SlowLogFlag::Bool),
        instance(&template, "flag-zero", false, SlowLogFlag::Digit),
        instance(&template, "flag-null-refused", false, SlowLogFlag::Null),
    ];
    let (sim, sim_url) =
        harness::serve_sim(SimConfig::new(Credentials::new(AK, SK), topology)).await;
    let ids = sim.with_state(|s| s.instance_ids());
    let (read, zero, refused) = (&ids[..4], &ids[4], &ids[5]);
    let dir = Dir::new("upstream-flags");
    let file = dir.write(
        "exporter.toml",
        &format!(
            "[exporter]\nscan_interval = \"2s\"\ndiscovery_interval = \"1s\"\n\
             first_scan_spread = \"0s\"\n{}key_analysis = false\n[cloud.discovery]\n",
            harness::cloud_toml("sim", "p", &sim_url)
        ),
    );
    let exporter = Exporter::start(
        &["--config", file.to_str().unwrap(), "--log.level", "info"],
        &ENV,
    );
    // Slow commands counted on every instance that keeps a slow log, whatever its flag's
    // spelling, the refusal learnt, and eight look-ups of every instance.
    let samples = wait_for(
        Duration::from_secs(60),
        "slow commands counted and the refusal learnt",
        || async {
            let samples = scrape(&exporter.base).await;
            let counted = read
                .iter()
                .all(|id| sum(&samples, "dcs_slow_commands_total", id, &[]) > 0.0);
            let refusal = [("reason", "not_supported")];
            let learnt = sum(
                &samples,
                "dcs_exporter_instance_context_errors_total",
                refused,
                &refusal,
            ) > 0.0;
            let look_ups = samples
                .iter()
                .filter(|s| s.name == "dcs_exporter_api_requests_total")
                .filter(|s| s.label("operation") == "show_instance")
                .map(|s| s.value)
                .sum::<f64>();
            (counted && learnt && look_ups >= 6.0 * 8.0).then_some(samples)
        },
    )
    .await;
    for id in read {
        assert_eq!(gauge(&samples, "dcs_exporter_slow_log_read", id), Some(1.0));
        assert_eq!(
            sum(
                &samples,
                "dcs_exporter_instance_context_errors_total",
                id,
                &[]
            ),
            0.0,
            "{id}"
        );
    }
    // "0": never asked, and said so.
    assert_eq!(
        gauge(&samples, "dcs_exporter_slow_log_read", zero),
        Some(0.0)
    );
    assert_eq!(
        sum(
            &samples,
            "dcs_exporter_instance_context_errors_total",
            zero,
            &[]
        ),
        0.0
    );
    // null on an instance without a slow log: tried once, refused, counted once, turned off.
    assert_eq!(
        gauge(&samples, "dcs_exporter_slow_log_read", refused),
        Some(0.0)
    );
    let errors = |id: &str| {
        samples
            .iter()
            .filter(|s| s.name == "dcs_exporter_instance_context_errors_total")
            .filter(|s| s.label("instance_id") == id)
            .map(|s| {
                (
                    s.label("operation").to_string(),
                    s.label("reason").to_string(),
                    s.value,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        errors(refused),
        [("list_slowlog".to_string(), "not_supported".to_string(), 1.0)]
    );
    let log = exporter.log();
    let lines = |id: &str, words: &str| {
        log.iter()
            .filter(|l| l.contains(id) && l.contains(words))
            .count()
    };
    assert_eq!(lines(zero, "keeps none"), 1, "{log:#?}");
    assert_eq!(lines(refused, "unsupported"), 1, "{log:#?}");
    for id in read {
        assert_eq!(lines(id, "slow log"), 0, "{id}: {log:#?}");
    }
}
