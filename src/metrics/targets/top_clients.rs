//! The sessions that stand out on each node: the most idle, the largest buffers.

use super::*;
use crate::aggregate::TopClient;
use crate::config::Family;
use crate::snapshot::NodeKey;

label_set! {
    struct TopClientLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
    client_addr: &'a str,
    client_name: &'a str,
    user: &'a str,
    db: &'a str,
    cmd: &'a str,
}
}

fn top_clients(
    metric: &mut impl FamilySink,
    key: &NodeKey,
    clients: &[TopClient],
) -> std::fmt::Result {
    for c in clients {
        let labels = TopClientLabels {
            instance_id: &key.instance_id,
            node_id: &key.node_id,
            client_addr: &c.client_addr,
            client_name: &c.client_name,
            user: &c.user,
            db: &c.db,
            cmd: &c.cmd,
        };
        metric.gauge(&labels, c.value)?;
    }
    Ok(())
}

pub(super) fn encode(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    use Kind::Gauge;
    let fresh = &view.fresh;
    if !view.exposition().shows(Family::TopClients) {
        return Ok(());
    }
    family(
        encoder,
        "dcs_top_client_idle_seconds",
        &format!("Idle time of the most idle sessions of each node; {BACKGROUND}."),
        Gauge,
        fresh,
        |m, (key, data)| top_clients(m, key, &data.aggregate.top_idle),
    )?;
    family(
        encoder,
        "dcs_top_client_output_memory_bytes",
        &format!(
            "Output buffer memory of the sessions with the largest buffers of each node; {BACKGROUND}."
        ),
        Gauge,
        fresh,
        |m, (key, data)| top_clients(m, key, &data.aggregate.top_output_memory),
    )?;
    Ok(())
}
