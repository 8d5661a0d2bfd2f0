//! What the service tells of its instances: the list, one instance's details, its logical
//! nodes, parameters and slow log; and the client machines as kube-state-metrics shows them.

use std::time::SystemTime;

use super::model::SimState;
use super::params::{InstancesQuery, parse_number};
use crate::cloud::dcs::{
    InstanceConfigs, InstancePage, InstanceSummary, LogicalNodes, SlowlogPage,
};
use crate::redis::RedisEndpoint;
use crate::sim::clock::millis;
use crate::sim::error::{SimError, SimResult, codes};
use crate::sim::kube;
use crate::sim::slowlog::{SimSlowEntry, SlowlogQuery};
use crate::sim::topology::Architecture;

/// A real server behind a node whose slow log the caller reads: its endpoint, the node's shard
/// (clusters) and its role.
pub type SlowLogBackend = (RedisEndpoint, Option<String>, String);

impl SimState {
    pub fn logical_nodes(&mut self, instance_id: &str) -> SimResult<LogicalNodes> {
        let instance = &self.instances[self.instance(instance_id)?];
        Ok(LogicalNodes {
            instance_id: Some(instance_id.to_string()),
            total: Some(instance.nodes.len() as i64),
            nodes: instance.nodes.iter().map(|n| n.info.clone()).collect(),
        })
    }

    /// One instance's details.
    pub fn show_instance(&self, instance_id: &str) -> SimResult<InstanceSummary> {
        Ok(self.instances[self.instance(instance_id)?].summary.clone())
    }

    /// One instance's details as the service answers them: `support_slow_log_flag` spelt as
    /// the topology says.
    pub fn instance_details(&self, instance_id: &str) -> SimResult<serde_json::Value> {
        let instance = &self.instances[self.instance(instance_id)?];
        let mut details =
            serde_json::to_value(&instance.summary).expect("instance details serialize");
        if let serde_json::Value::Object(fields) = &mut details {
            match instance.slow_log_flag.spell(instance.keeps_slow_log) {
                Some(flag) => fields.insert("support_slow_log_flag".into(), flag),
                None => fields.remove("support_slow_log_flag"),
            };
        }
        Ok(details)
    }

    /// A page of an instance's slow log; where real servers back its nodes, their endpoints
    /// (with each node's shard and role), whose logs the caller reads and pages with
    /// [`crate::sim::slowlog::page`].
    pub fn slowlog(
        &mut self,
        instance_id: &str,
        query: &SlowlogQuery,
        now: SystemTime,
    ) -> SimResult<Result<SlowlogPage, Vec<SlowLogBackend>>> {
        let index = self.instance(instance_id)?;
        let instance = &mut self.instances[index];
        if !instance.keeps_slow_log {
            return Err(SimError::dcs(
                400,
                codes::INVALID_PARAMETER,
                "This instance does not support slow logs.",
            ));
        }
        let checked = query.check()?;
        let backends: Vec<_> = instance
            .nodes
            .iter()
            .filter_map(|n| {
                let backend = n.backend.clone()?;
                let shard = (instance.architecture == Architecture::Cluster)
                    .then(|| n.info.group_name.clone())
                    .flatten();
                Some((backend, shard, n.info.node_type.clone().unwrap_or_default()))
            })
            .collect();
        if !backends.is_empty() {
            return Ok(Err(backends));
        }
        Ok(Ok(instance.slow_log.query(&checked, millis(now))))
    }

    /// An instance's slow log as kept, and how many windows it served.
    pub fn slowlog_entries(
        &mut self,
        instance_id: &str,
        now: SystemTime,
    ) -> SimResult<(Vec<SimSlowEntry>, usize)> {
        let index = self.instance(instance_id)?;
        let instance = &mut self.instances[index];
        instance.slow_log.advance_to(millis(now));
        Ok((
            instance.slow_log.entries(),
            instance.slow_log.windows_served(),
        ))
    }

    /// One instance's parameters.
    pub fn configurations(&self, instance_id: &str) -> SimResult<InstanceConfigs> {
        Ok(self.instances[self.instance(instance_id)?].configs.clone())
    }

    /// Sets one of an instance's parameters to `value`, as written: what `configs` answers
    /// from then on (a value out of range, say, to see what a client makes of it).
    pub fn set_parameter(&mut self, instance_id: &str, name: &str, value: &str) -> SimResult<()> {
        let index = self.instance(instance_id)?;
        let params = &mut self.instances[index].configs.redis_config;
        let param = params
            .iter_mut()
            .find(|p| p.param_name.as_deref() == Some(name))
            .ok_or_else(|| SimError::invalid(format!("no parameter {name}.")))?;
        param.param_value = Some(value.to_string());
        Ok(())
    }

    pub fn list_instances(&self, query: &InstancesQuery) -> SimResult<InstancePage> {
        let offset = parse_number(query.offset.as_deref(), "offset", 0)?;
        let limit = parse_number(query.limit.as_deref(), "limit", 10)?;
        if offset < 0 || !(1..=1000).contains(&limit) {
            return Err(SimError::invalid(
                "offset must be at least 0 and limit between 1 and 1000.",
            ));
        }
        let mut tags = Vec::new();
        for pair in query.tags.as_deref().unwrap_or_default().split(',') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                SimError::invalid("tags must be key=value pairs separated by commas.")
            })?;
            tags.push((key.trim(), value.trim()));
        }
        let matching: Vec<&InstanceSummary> = self
            .instances
            .iter()
            .map(|i| &i.summary)
            .filter(|s| {
                tags.iter().all(|(k, v)| {
                    s.tags
                        .iter()
                        .any(|t| t.key.as_deref() == Some(k) && t.value.as_deref() == Some(v))
                })
            })
            .filter(|s| {
                let name = s.name.as_deref().unwrap_or_default();
                query.name.as_deref().is_none_or(|n| name.contains(n))
                    && query
                        .status
                        .as_deref()
                        .is_none_or(|st| s.status.as_deref() == Some(st))
                    && query
                        .instance_id
                        .as_deref()
                        .is_none_or(|id| s.instance_id.as_deref() == Some(id))
            })
            .collect();
        Ok(InstancePage {
            instance_num: Some(matching.len() as i64),
            instances: matching
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .cloned()
                .collect(),
        })
    }

    /// The client machines as kube-state-metrics shows them (the instance's `env` tag is their
    /// namespace).
    pub fn kube_state_metrics(&self) -> String {
        let namespaces: Vec<String> = self
            .instances
            .iter()
            .map(|i| {
                i.summary
                    .tags
                    .iter()
                    .find(|t| t.key.as_deref() == Some("env"))
                    .and_then(|t| t.value.clone())
                    .unwrap_or_else(|| "default".into())
            })
            .collect();
        let clients: Vec<kube::Clients<'_>> = self
            .instances
            .iter()
            .zip(&namespaces)
            .map(|(i, namespace)| kube::Clients {
                namespace,
                hosts: &i.clients.hosts,
            })
            .collect();
        kube::render(&clients)
    }
}
