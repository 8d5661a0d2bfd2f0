//! Each drift check fails on a mistake planted in a copy of the real document: a key, a family,
//! a label, a type, a runbook and a link each gone wrong, and a manifest with an unknown field.

use std::process::Command;

use super::checks::{
    alert_runbooks, config_reference, documented_families, emitted_families, example_config,
    family_reference, relative_links,
};
use super::{read, repo};
use crate::common::available;
use crate::common::process::Dir;

/// `text` with the first `from` replaced, which must be there.
fn planted(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "nothing to plant: {from:?}");
    text.replacen(from, to, 1)
}

fn said(problems: &[String], needle: &str) -> bool {
    problems.iter().any(|p| p.contains(needle))
}

#[test]
fn the_configuration_checks_catch_a_key_gone_and_a_key_invented() {
    let accepted = dcs_session_exporter::config::accepted_keys();
    let md = read("docs/configuration.md");
    assert!(config_reference(&md, &accepted).is_empty());
    let gone = planted(&md, "| `page_size` |", "| page size |");
    let problems = config_reference(&gone, &accepted);
    assert!(
        said(
            &problems,
            "exporter.page_size is accepted but not documented"
        ),
        "{problems:?}"
    );
    let invented = planted(&md, "| `page_size` |", "| `page_sizes` |");
    let problems = config_reference(&invented, &accepted);
    assert!(
        said(&problems, "exporter.page_sizes is documented but"),
        "{problems:?}"
    );

    let toml = read("config/exporter.toml");
    let gone = planted(&toml, "max_client_names = 20", "");
    let problems = example_config(&gone, &accepted);
    assert!(said(&problems, "exporter.max_client_names"), "{problems:?}");
    let gone = planted(&toml, "domain_id = ", "domain = ");
    let problems = example_config(&gone, &accepted);
    assert!(
        said(&problems, "cloud.assume_agency.domain_id"),
        "{problems:?}"
    );
}

#[test]
fn the_metrics_check_catches_a_family_a_type_and_a_label_gone_wrong() {
    let md = read("docs/metrics.md");
    let emitted = emitted_families(&read("tests/data/golden.prom"));
    let problems_of = |md: &str| {
        let documented = documented_families(md);
        // Only the golden families: the exporter's own ones are out of this copy's scope.
        family_reference(&documented, &emitted)
            .into_iter()
            .filter(|p| !p.ends_with("is documented but never emitted"))
            .collect::<Vec<_>>()
    };
    assert!(problems_of(&md).is_empty(), "{:?}", problems_of(&md));
    let label = planted(
        &md,
        "gauge · labels: `instance_id`, `node_id`, `client_addr`, `db`, `user`",
        "gauge · labels: `instance_id`, `node`, `client_addr`, `db`, `user`",
    );
    assert!(said(&problems_of(&label), "dcs_clients has labels"));
    let kind = planted(
        &md,
        "### `dcs_scan_skipped_total`\n\ncounter",
        "### `dcs_scan_skipped_total`\n\ngauge",
    );
    assert!(said(
        &problems_of(&kind),
        "dcs_scan_skipped_total is a counter but documented as gauge"
    ));
    let gone = planted(&md, "### `dcs_keyspace_keys`", "### keyspace keys");
    assert!(said(
        &problems_of(&gone),
        "dcs_keyspace_keys (gauge) is emitted but not documented"
    ));
    let documented = documented_families(&md);
    let mut fewer = emitted.clone();
    fewer.remove("dcs_clients");
    assert!(said(
        &family_reference(&documented, &fewer),
        "dcs_clients is documented but never emitted"
    ));
}

#[test]
fn the_runbook_check_catches_a_missing_link_a_wrong_anchor_and_a_missing_section() {
    let base = format!("{}/blob/main/docs/alerts.md#", env!("CARGO_PKG_REPOSITORY"));
    let (rules, runbooks) = (read("config/alerts.yml"), read("docs/alerts.md"));
    assert!(alert_runbooks(&rules, &runbooks, &base).is_empty());
    let no_link = planted(&rules, "runbook_url: ", "runbook: ");
    assert!(said(
        &alert_runbooks(&no_link, &runbooks, &base),
        "DcsManyIdleSessions has no runbook_url"
    ));
    let wrong = planted(
        &rules,
        "alerts.md#dcsoversizedoutputbuffer",
        "alerts.md#dcsmanyidlesessions",
    );
    assert!(said(
        &alert_runbooks(&wrong, &runbooks, &base),
        "DcsOversizedOutputBuffer's runbook_url"
    ));
    let section = planted(&runbooks, "## DbssJobFailed", "## A failed DBSS job");
    assert!(said(
        &alert_runbooks(&rules, &section, &base),
        "docs/alerts.md has no section DbssJobFailed"
    ));
}

#[test]
fn the_link_check_catches_a_missing_file_and_a_missing_heading() {
    let dir = Dir::new("docs-links");
    let page = dir.write(
        "page.md",
        "# Page\n\n## A section\n\n[fine](#a-section), [gone](missing.md), [no heading](#nowhere)\n\
         ```\n[in code](not-a-link.md)\n```\n[outside](https://example.com/x.md)\n",
    );
    let problems = relative_links(&page, &std::fs::read_to_string(&page).unwrap());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(said(&problems, "missing.md: no such file"));
    assert!(said(&problems, "#nowhere: no such heading"));
}

#[test]
fn the_manifest_check_catches_an_unknown_field() {
    if !available("kubernetes-validate", "pip install kubernetes-validate") {
        return;
    }
    let dir = Dir::new("docs-manifests");
    let deployment = std::fs::read_to_string(repo("config/kubernetes/deployment.yaml")).unwrap();
    let path = dir.write(
        "deployment.yaml",
        &planted(&deployment, "replicas: 1", "replica: 1"),
    );
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {said}");
    assert!(said.contains("'replica' was unexpected"), "{said}");
}
