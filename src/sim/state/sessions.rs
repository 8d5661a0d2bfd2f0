//! A node's live sessions, read or ended at once, without a job: the kill of chosen sessions,
//! and what a scan would find now.

use std::collections::HashSet;
use std::time::SystemTime;

use super::model::SimState;
use crate::redis::RedisEndpoint;
use crate::session::ClientInfo;
use crate::sim::clock::millis;
use crate::sim::error::{SimError, SimResult};
use crate::sim::population::render;

impl SimState {
    /// `POST .../clients/kill`: ends the sessions with these peer addresses at once. On a
    /// node backed by a real server, the caller ends them there (the endpoint is returned).
    pub fn kill_clients(
        &mut self,
        instance_id: &str,
        node_id: Option<&str>,
        peers: &[String],
        now: SystemTime,
    ) -> SimResult<Result<usize, RedisEndpoint>> {
        let now_ms = millis(now);
        self.advance(now_ms);
        let instance = self.instance(instance_id)?;
        let node = self.client_node(instance, node_id)?;
        if peers.is_empty() {
            return Err(SimError::invalid(
                "client_addrs must name at least one session.",
            ));
        }
        if let Some(backend) = &self.instances[instance].nodes[node].backend {
            return Ok(Err(backend.clone()));
        }
        let peers: HashSet<String> = peers.iter().cloned().collect();
        let population = &mut self.instances[instance].nodes[node].population;
        population.advance_to(now_ms);
        Ok(Ok(population.remove_peers(&peers)))
    }

    /// The sessions a node has right now, as a scan would find them.
    pub fn live_sessions(
        &mut self,
        instance_id: &str,
        node_id: &str,
        now: SystemTime,
    ) -> SimResult<Vec<ClientInfo>> {
        let now_ms = millis(now);
        self.advance(now_ms);
        let instance = self.instance(instance_id)?;
        let node = self.client_node(instance, Some(node_id))?;
        let population = &mut self.instances[instance].nodes[node].population;
        population.advance_to(now_ms);
        Ok(population
            .sessions()
            .iter()
            .map(|s| render(population.profile(), s, now_ms))
            .collect())
    }
}
