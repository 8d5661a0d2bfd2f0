//! The simulated clients as a Kubernetes cluster shows them: kube-state-metrics' `kube_pod_info`,
//! `kube_pod_status_phase` and `kube_replicaset_owner`, for the demo's and the tests' workload
//! join. Most client hosts are pods of Deployments (some of a StatefulSet); each instance's last
//! host is a Kubernetes node, whose IP a host-network DaemonSet pod shares; a finished Job pod
//! once had the IP a running pod has now.

use std::fmt::Write;

use super::population::ClientHost;

/// Where the page is served, on the simulator's address.
pub const KUBE_STATE_METRICS_PATH: &str = "/kube-state-metrics/metrics";

const PHASES: [&str; 5] = ["Pending", "Succeeded", "Failed", "Running", "Unknown"];

/// One instance's client hosts and the namespace its clients run in.
pub struct Clients<'a> {
    pub namespace: &'a str,
    pub hosts: &'a [ClientHost],
}

/// A stable short suffix, as Kubernetes appends to generated names.
fn suffix(seed: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..len)
        .map(|i| ALPHABET[((h >> (i * 5)) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

struct Pod {
    namespace: String,
    name: String,
    ip: String,
    node: String,
    kind: &'static str,
    owner: String,
    host_network: bool,
    phase: &'static str,
}

fn pods(instances: &[Clients<'_>]) -> (Vec<Pod>, Vec<(String, String, String)>) {
    let mut pods = Vec::new();
    // (namespace, replicaset, deployment)
    let mut replicasets = Vec::new();
    for clients in instances {
        let ns = clients.namespace.to_string();
        let Some((node_host, app_hosts)) = clients.hosts.split_last() else {
            continue;
        };
        let node = format!("node-{}", node_host.ip.replace('.', "-"));
        for (i, host) in app_hosts.iter().enumerate() {
            let app = if host.app.is_empty() { "app" } else { host.app };
            let (kind, owner, name) = if i == 1 {
                let name = format!("{app}-{i}");
                ("StatefulSet", app.to_string(), name)
            } else {
                let rs = format!("{app}-{}", suffix(&format!("{ns}/{app}"), 10));
                if !replicasets.iter().any(|(n, r, _)| *n == ns && *r == rs) {
                    replicasets.push((ns.clone(), rs.clone(), app.to_string()));
                }
                let name = format!("{rs}-{}", suffix(&host.ip, 5));
                ("ReplicaSet", rs, name)
            };
            if i == 0 {
                // A Job's pod that finished and had this IP before: it must not take the
                // running pod's sessions.
                pods.push(Pod {
                    namespace: ns.clone(),
                    name: format!("{app}-migrate-{}", suffix(&host.ip, 5)),
                    ip: host.ip.clone(),
                    node: node.clone(),
                    kind: "Job",
                    owner: format!("{app}-migrate"),
                    host_network: false,
                    phase: "Succeeded",
                });
            }
            pods.push(Pod {
                namespace: ns.clone(),
                name,
                ip: host.ip.clone(),
                node: node.clone(),
                kind,
                owner,
                host_network: false,
                phase: "Running",
            });
        }
        // A host-network pod on the node: it shares the node's IP with everything else there.
        pods.push(Pod {
            namespace: "monitoring".into(),
            name: format!("node-exporter-{}", suffix(&node_host.ip, 5)),
            ip: node_host.ip.clone(),
            node,
            kind: "DaemonSet",
            owner: "node-exporter".into(),
            host_network: true,
            phase: "Running",
        });
    }
    (pods, replicasets)
}

/// The page, in the text format kube-state-metrics serves.
pub fn render(instances: &[Clients<'_>]) -> String {
    let (pods, replicasets) = pods(instances);
    let mut out = String::new();
    let uid = |p: &Pod| {
        let h = suffix(&format!("{}/{}", p.namespace, p.name), 12);
        format!("{}-{}-4{}", &h[..8], &h[8..], &h[..3])
    };
    out.push_str(
        "# HELP kube_pod_info [STABLE] Information about pod.\n# TYPE kube_pod_info gauge\n",
    );
    for p in &pods {
        let _ = writeln!(
            out,
            "kube_pod_info{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",host_ip=\"{}\",pod_ip=\"{}\",node=\"{}\",created_by_kind=\"{}\",created_by_name=\"{}\",priority_class=\"\",host_network=\"{}\"}} 1",
            p.namespace,
            p.name,
            uid(p),
            p.ip,
            p.ip,
            p.node,
            p.kind,
            p.owner,
            p.host_network
        );
    }
    out.push_str(
        "# HELP kube_pod_status_phase [STABLE] The pods current phase.\n# TYPE kube_pod_status_phase gauge\n",
    );
    for p in &pods {
        for phase in PHASES {
            let _ = writeln!(
                out,
                "kube_pod_status_phase{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",phase=\"{phase}\"}} {}",
                p.namespace,
                p.name,
                uid(p),
                u8::from(phase == p.phase)
            );
        }
    }
    out.push_str("# HELP kube_replicaset_owner [STABLE] Information about the ReplicaSet's owner.\n# TYPE kube_replicaset_owner gauge\n");
    for (namespace, replicaset, deployment) in &replicasets {
        let _ = writeln!(
            out,
            "kube_replicaset_owner{{namespace=\"{namespace}\",replicaset=\"{replicaset}\",owner_kind=\"Deployment\",owner_name=\"{deployment}\",owner_is_controller=\"true\"}} 1"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(ip: &str, app: &'static str) -> ClientHost {
        ClientHost {
            ip: ip.into(),
            weight: 1.0,
            app,
            user: "app",
        }
    }

    #[test]
    fn pods_of_deployments_a_statefulset_a_finished_job_and_a_host_network_pod() {
        let hosts = [
            host("10.1.0.2", "orders-api"),
            host("10.1.0.3", "checkout-worker"),
            host("10.1.0.4", "orders-api"),
            host("10.1.0.5", ""),
        ];
        let page = render(&[Clients {
            namespace: "prod",
            hosts: &hosts,
        }]);
        let info: Vec<&str> = page
            .lines()
            .filter(|l| l.starts_with("kube_pod_info{"))
            .collect();
        assert_eq!(info.len(), 5, "{page}");
        assert_eq!(
            info.iter()
                .filter(|l| l.contains("pod_ip=\"10.1.0.2\""))
                .count(),
            2
        );
        assert!(
            info.iter()
                .any(|l| l.contains("created_by_kind=\"StatefulSet\""))
        );
        assert!(
            info.iter()
                .any(|l| l.contains("host_network=\"true\"") && l.contains("10.1.0.5"))
        );
        // One ReplicaSet for the two orders-api pods, owned by their Deployment.
        let owners: Vec<&str> = page
            .lines()
            .filter(|l| l.starts_with("kube_replicaset_owner{"))
            .collect();
        assert_eq!(owners.len(), 1, "{owners:?}");
        assert!(owners[0].contains("owner_name=\"orders-api\""));
        // Each pod is in exactly one phase.
        let running = page
            .lines()
            .filter(|l| l.starts_with("kube_pod_status_phase{") && l.ends_with(" 1"))
            .count();
        assert_eq!(running, 5);
    }
}
