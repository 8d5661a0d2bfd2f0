//! Every API operation the client calls, declared once: its label, its method and path (which
//! the client fills and the simulator routes), and its service.

use std::fmt;

use reqwest::Method;

use super::endpoints::Service;

/// Every API call the client makes; a closed set, used as a metric label.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum Operation {
    ScanClients,
    ShowJob,
    ListClients,
    KillAllClients,
    KillClients,
    ListLogicalNodes,
    ListInstances,
    ShowInstance,
    ListConfigurations,
    ListSlowlog,
    ListAuditJobs,
    ListBigKeyTasks,
    ShowBigKeyTask,
    CreateBigKeyTask,
    ListHotKeyTasks,
    ShowHotKeyTask,
    CreateHotKeyTask,
    ListOfflineKeyAnalyses,
    ShowOfflineKeyAnalysis,
    ListInstanceStatistics,
}

impl Operation {
    /// Every one, in the order they are declared (and exposed).
    pub const ALL: &'static [Operation] = <Self as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Its method and path, as the API documents it: the client fills the `{...}` parameters
    /// in order (the project's id first), and the simulator routes the very same template.
    pub fn route(self) -> (Method, &'static str) {
        match self {
            Operation::ScanClients => (
                Method::POST,
                "/v2/{project_id}/instances/{instance_id}/clients",
            ),
            Operation::ShowJob => (Method::GET, "/v2/{project_id}/jobs/{job_id}"),
            Operation::ListClients => (
                Method::GET,
                "/v2/{project_id}/instances/{instance_id}/clients",
            ),
            Operation::KillAllClients => (
                Method::POST,
                "/v2/{project_id}/instances/{instance_id}/clients/kill-all",
            ),
            Operation::KillClients => (
                Method::POST,
                "/v2/{project_id}/instances/{instance_id}/clients/kill",
            ),
            Operation::ListLogicalNodes => (
                Method::GET,
                "/v2/{project_id}/instances/{instance_id}/logical-nodes",
            ),
            Operation::ListInstances => (Method::GET, "/v2/{project_id}/instances"),
            Operation::ShowInstance => (Method::GET, "/v2/{project_id}/instances/{instance_id}"),
            Operation::ListConfigurations => (
                Method::GET,
                "/v2/{project_id}/instances/{instance_id}/configs",
            ),
            Operation::ListSlowlog => (
                Method::GET,
                "/v2/{project_id}/instances/{instance_id}/slowlog",
            ),
            Operation::ListAuditJobs => (Method::GET, "/v1/{project_id}/audit/{resource_id}/jobs"),
            Operation::ListBigKeyTasks => (
                Method::GET,
                "/v2/{project_id}/instances/{instance_id}/bigkey-tasks",
            ),
            Operation::ShowBigKeyTask => (
                Method::GET,
                "/v2/{project_id}/instances/{instance_id}/bigkey-task/{bigkey_id}",
            ),
            Operation::CreateBigKeyTask => (
                Method::POST,
                "/v2/{project_id}/instances/{instance_id}/bigkey-task",
            ),
            Operation::ListHotKeyTasks => (
                Method::GET,
                "/v2/{project_id}/instances/{instance_id}/hotkey-tasks",
            ),
            Operation::ShowHotKeyTask => (
                Method::GET,
                "/v2/{project_id}/instances/{instance_id}/hotkey-task/{hotkey_id}",
            ),
            Operation::CreateHotKeyTask => (
                Method::POST,
                "/v2/{project_id}/instances/{instance_id}/hotkey-task",
            ),
            Operation::ListOfflineKeyAnalyses => (
                Method::GET,
                "/v2/{project_id}/instances/{instance_id}/offline/key-analysis",
            ),
            Operation::ShowOfflineKeyAnalysis => (
                Method::GET,
                "/v2/{project_id}/instances/{instance_id}/offline/key-analysis/{task_id}",
            ),
            Operation::ListInstanceStatistics => {
                (Method::GET, "/v2/{project_id}/instances/statistic")
            }
        }
    }

    /// The path template alone.
    pub fn path(self) -> &'static str {
        self.route().1
    }

    pub fn service(self) -> Service {
        match self {
            Operation::ListAuditJobs => Service::Dbss,
            _ => Service::Dcs,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
