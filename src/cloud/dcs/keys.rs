//! What DCS's own analyses say of an instance's keys (big keys, hot keys, key prefixes from a
//! backup) and the running instances' memory and key counts: the answers' types and the calls.
//!
//! Statuses, times and field presence vary between regions and versions, so every field is
//! optional and every number is read leniently (a string holding one is a number); choosing
//! among tasks is the caller's.

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::cloud::client::{ApiClient, Call};
use crate::cloud::error::{ApiError, Operation};
use crate::session::lenient;

/// The most records a task-list page asks for (the API's own limit).
pub const MAX_TASK_PAGE: u32 = 1000;

/// The most task-list pages one read takes: DCS keeps about 100 tasks a kind, so a list that
/// goes on past this is taken to be broken, not read forever.
const MAX_TASK_PAGES: usize = 10;

/// Which of DCS's analyses: the families' `analysis` label value.
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
)]
#[strum(serialize_all = "snake_case")]
pub enum AnalysisKind {
    /// Big keys, scanned on the replica.
    Big,
    /// Hot keys, sampled from the LFU counters.
    Hot,
    /// Key prefixes, from a backup (offline key analysis).
    Prefix,
}

impl AnalysisKind {
    pub const ALL: &'static [AnalysisKind] = <Self as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The calls that list this kind's tasks and read one of them.
    pub fn operations(self) -> (Operation, Operation) {
        match self {
            AnalysisKind::Big => (Operation::ListBigKeyTasks, Operation::ShowBigKeyTask),
            AnalysisKind::Hot => (Operation::ListHotKeyTasks, Operation::ShowHotKeyTask),
            AnalysisKind::Prefix => (
                Operation::ListOfflineKeyAnalyses,
                Operation::ShowOfflineKeyAnalysis,
            ),
        }
    }
}

/// The analyses the exporter may start (offline analyses need a backup and are left to people).
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
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum KeyScan {
    Big,
    Hot,
}

impl KeyScan {
    pub fn analysis(self) -> AnalysisKind {
        match self {
            KeyScan::Big => AnalysisKind::Big,
            KeyScan::Hot => AnalysisKind::Hot,
        }
    }

    pub fn start_operation(self) -> Operation {
        match self {
            KeyScan::Big => Operation::CreateBigKeyTask,
            KeyScan::Hot => Operation::CreateHotKeyTask,
        }
    }
}

/// One task of a list: big-key, hot-key or offline analysis.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTaskRecord {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    /// `waiting`, `running`, `success`, `failed` (read in any case).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    /// `manual` or `auto` (big and hot keys).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scan_type: Option<String>,
    /// `2020-06-15T02:21:18.669Z`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub started_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub finished_at: Option<String>,
}

impl KeyTaskRecord {
    /// Whether the task ended well.
    pub fn succeeded(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("success"))
    }

    /// Whether the task ended badly (`failed`, `fail`, `error`, in any case).
    pub fn failed(&self) -> bool {
        self.status.as_deref().is_some_and(|s| {
            let s = s.trim().to_ascii_lowercase();
            s.starts_with("fail") || s == "error"
        })
    }

    /// Whether the task is still to run or running.
    pub fn in_progress(&self) -> bool {
        self.status.as_deref().is_some_and(|s| {
            let s = s.trim();
            s.eq_ignore_ascii_case("waiting") || s.eq_ignore_ascii_case("running")
        })
    }
}

/// A page of big-key or hot-key tasks (`count` is the whole list's length), or of offline
/// analyses (which call it `total`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTaskPage {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub instance_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<i64>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<i64>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub records: Vec<KeyTaskRecord>,
}

/// A key of a big-key or hot-key analysis.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysedKey {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// `string`, `list`, `set`, `zset`, `hash`.
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_string")]
    pub key_type: Option<String>,
    /// `ip:port` of the shard (cluster instances only).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub shard: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub db: Option<i64>,
    /// Bytes (strings) or elements (collections), as `unit` says.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub size: Option<i64>,
    /// `byte` or `count`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub unit: Option<String>,
    /// The LFU counter, 0 to 255 (hot keys only).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub freq: Option<i64>,
}

/// One big-key or hot-key analysis with its keys (DCS keeps at most 100).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTaskDetail {
    #[serde(flatten)]
    pub record: KeyTaskRecord,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub instance_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub num: Option<i64>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub keys: Vec<AnalysedKey>,
}

/// A key prefix of an offline analysis: its keys' bytes and count, by type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPrefix {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub key_prefix: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_string")]
    pub key_type: Option<String>,
    /// Read as 64-bit: the SDK's int32 is too small for real instances.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub bytes: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub num: Option<i64>,
}

/// The bytes or keys of one type in an offline analysis.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeTotal {
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_string")]
    pub key_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub bytes: Option<i64>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub num: Option<i64>,
}

/// One offline key analysis (from a backup).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineAnalysis {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub instance_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub node_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub backup_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub analysis_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub started_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub finished_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub largest_key_prefixes: Vec<KeyPrefix>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_bytes: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_num: Option<i64>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub type_bytes: Vec<TypeTotal>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub type_num: Vec<TypeTotal>,
}

/// A running instance's memory, keys and load (`GET .../instances/statistic`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatistic {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub instance_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub keys: Option<i64>,
    /// MB.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub used_memory: Option<i64>,
    /// MB.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub max_memory: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub cmd_get_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub cmd_set_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub used_cpu: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub input_kbps: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub output_kbps: Option<String>,
}

/// Every running instance's statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatistics {
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub statistics: Vec<InstanceStatistic>,
}

impl ApiClient {
    /// Every task of one kind of an instance's analyses, every page (in the service's order).
    pub async fn list_key_tasks(
        &self,
        instance_id: &str,
        kind: AnalysisKind,
        deadline: Instant,
    ) -> Result<Vec<KeyTaskRecord>, ApiError> {
        let (list, _) = kind.operations();
        let mut records: Vec<KeyTaskRecord> = Vec::new();
        for _ in 0..MAX_TASK_PAGES {
            let call = Call::of(list, &[self.project_id(), instance_id])
                .query("offset", records.len())
                .query("limit", MAX_TASK_PAGE);
            let page: KeyTaskPage = self.call_json(&call, deadline).await?;
            let received = page.records.len();
            let whole = page
                .count
                .or(page.total)
                .and_then(|n| usize::try_from(n).ok());
            records.extend(page.records);
            // A short or empty page ends the list, as does reaching the length it declares.
            if received < MAX_TASK_PAGE as usize || whole.is_some_and(|n| records.len() >= n) {
                break;
            }
        }
        Ok(records)
    }

    /// One big-key or hot-key analysis with its keys.
    pub async fn show_key_task(
        &self,
        instance_id: &str,
        kind: AnalysisKind,
        task_id: &str,
        deadline: Instant,
    ) -> Result<KeyTaskDetail, ApiError> {
        let (_, show) = kind.operations();
        let call = Call::of(show, &[self.project_id(), instance_id, task_id]);
        self.call_json(&call, deadline).await
    }

    /// One offline key analysis.
    pub async fn show_offline_analysis(
        &self,
        instance_id: &str,
        task_id: &str,
        deadline: Instant,
    ) -> Result<OfflineAnalysis, ApiError> {
        let call = Call::of(
            Operation::ShowOfflineKeyAnalysis,
            &[self.project_id(), instance_id, task_id],
        );
        self.call_json(&call, deadline).await
    }

    /// Starts a big-key or hot-key analysis; answers the new task.
    pub async fn start_key_task(
        &self,
        instance_id: &str,
        scan: KeyScan,
        deadline: Instant,
    ) -> Result<KeyTaskRecord, ApiError> {
        let call = Call::of(scan.start_operation(), &[self.project_id(), instance_id]);
        self.call_json(&call, deadline).await
    }

    /// Every running instance's memory and keys, in one call for the project.
    pub async fn list_instance_statistics(
        &self,
        deadline: Instant,
    ) -> Result<InstanceStatistics, ApiError> {
        let call = Call::of(Operation::ListInstanceStatistics, &[self.project_id()]);
        self.call_json(&call, deadline).await
    }
}
