use std::time::{Duration, SystemTime};

use super::*;

#[test]
fn decodes_the_documented_page() {
    let page: ClientPage = serde_json::from_str(
        r#"{"time":"2023-06-15T03:10:01.332Z","clients":[{"id":"11677","addr":"198.19.131.14:1637",
        "name":"dcs","cmd":"info","age":376,"idle":376,"flags":"N","fd":"16","db":"0","sub":0,"psub":0,
        "multi":1,"qbuf":0,"qbuf_free":4,"obl":0,"oll":0,"omem":0,"events":"r","network":"vpc",
        "peer":"198.198.0.121:4058","user":"dcs"}],"count":1}"#,
    )
    .unwrap();
    assert_eq!(page.count, Some(1));
    let c = &page.clients[0];
    assert_eq!(c.addr.as_deref(), Some("198.19.131.14:1637"));
    assert_eq!(
        (c.age, c.idle, c.qbuf_free),
        (Some(376), Some(376), Some(4))
    );
    assert_eq!(c.peer.as_deref(), Some("198.198.0.121:4058"));
    let empty: ClientPage = serde_json::from_str(r#"{"clients":null}"#).unwrap();
    assert!(empty.clients.is_empty());
}

#[test]
fn list_times() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_686_798_601_332);
    assert_eq!(parse_list_time("2023-06-15T03:10:01.332Z"), Some(t));
    assert_eq!(parse_list_time("2023-06-15 03:10:01.332"), Some(t));
    assert_eq!(parse_list_time("1686798601332"), Some(t));
    assert_eq!(parse_list_time("yesterday"), None);
}

#[test]
fn job_status_is_open() {
    let job: DcsJob = serde_json::from_str(
        r#"{"job_id":"j","status":"PAUSED","begin_time":"1700000000000","end_time":""}"#,
    )
    .unwrap();
    assert_eq!(job.status, JobStatus::Other("PAUSED".into()));
    assert!(!job.status.is_finished());
    assert_eq!(
        job.began(),
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    );
    assert_eq!(job.ended(), None);
}

#[test]
fn limits_are_checked_and_flags_read_permissively() {
    let configs: InstanceConfigs = serde_json::from_str(
        r#"{"redis_config":[
            {"param_name":"maxclients","param_value":"18446744073709551615"},
            {"param_name":"timeout","param_value":" 300 "},
            {"param_name":"other","param_value":"-5"}]}"#,
    )
    .unwrap();
    assert_eq!(
        configs.limit("maxclients"),
        Some(Err("18446744073709551615"))
    );
    assert_eq!(configs.number("maxclients"), None);
    assert_eq!(configs.limit("timeout"), Some(Ok(300)));
    assert_eq!(configs.limit("other"), Some(Err("-5")));
    assert_eq!(configs.limit("absent"), None);
    let flag = |json: &str| {
        serde_json::from_str::<InstanceSummary>(json)
            .unwrap()
            .support_slow_log_flag
    };
    assert_eq!(flag(r#"{"support_slow_log_flag":"1"}"#), Some(true));
    assert_eq!(flag(r#"{"support_slow_log_flag":"False"}"#), Some(false));
    assert_eq!(flag(r#"{"support_slow_log_flag":null}"#), None);
    assert_eq!(flag("{}"), None);
}
