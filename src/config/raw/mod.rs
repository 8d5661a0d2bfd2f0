//! The configuration file as written, before validation: one file a section, each type beside
//! the function that checks it, composed here.

mod assume_agency;
mod cloud;
mod discovery;
mod exporter;
pub(super) mod key_analysis;
pub(super) mod key_scan;
mod keys;
mod redis;
mod remediation;
mod targets;
mod values;

use std::collections::HashSet;

use serde::Deserialize;

use super::{Config, ConfigError, invalid};

pub use keys::accepted_keys;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    exporter: exporter::RawExporter,
    #[serde(default)]
    cloud: Vec<cloud::RawCloud>,
    #[serde(default)]
    redis: Vec<redis::RawRedis>,
    remediation: Option<remediation::RawRemediation>,
}

impl RawConfig {
    /// The configuration, checked section by section: `[exporter]`, each `[[cloud]]`, each
    /// `[[redis]]`, `[remediation]`. The first error found is the one reported.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let exporter = self.exporter.validate()?;
        let mut names = HashSet::new();
        // Instance ids of every cloud: an instance is scanned by one cloud, and a `[[redis]]`
        // name (its series' instance_id) is none of them.
        let mut instance_ids = HashSet::new();
        let mut clouds = Vec::new();
        for (i, c) in self.cloud.into_iter().enumerate() {
            clouds.push(c.validate(i, &mut names, &mut instance_ids)?);
        }
        let mut redis = Vec::new();
        for (i, r) in self.redis.into_iter().enumerate() {
            let target = r.validate(i, &instance_ids, &redis)?;
            redis.push(target);
        }
        let remediation = match self.remediation {
            Some(r) => r.validate()?,
            None => None,
        };
        if clouds.is_empty() && redis.is_empty() {
            return Err(invalid(
                "cloud",
                "at least one [[cloud]] or [[redis]] is required",
            ));
        }
        Ok(Config {
            exporter,
            clouds,
            redis,
            remediation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const GOOD: &str = r#"
        [exporter]
        scan_interval = "30s"
        top_clients = 3
        client_addr_field = "peer"
        [[cloud]]
        name = "prod"
        region = "cn-north-4"
        project_id = "p1"
        [[cloud.dcs_instance]]
        id = "i1"
        nodes = ["n1", "n2"]
        [[cloud.dbss_resource]]
        id = "r1"
    "#;

    #[test]
    fn defaults_and_values() {
        let c = Config::from_toml(GOOD).unwrap();
        let e = &c.exporter;
        assert_eq!(e.scan_interval.as_secs(), 30);
        assert_eq!(e.stale_after.as_secs(), 90);
        assert_eq!(e.max_client_addrs, 50);
        assert_eq!(e.top_clients, 3);
        assert_eq!(e.idle_buckets.len(), 12);
        assert_eq!(
            c.clouds[0].endpoints.dcs.as_str(),
            "https://dcs.cn-north-4.myhuaweicloud.com/"
        );
        assert_eq!(c.clouds[0].dcs_instances[0].nodes, ["n1", "n2"]);
        let with_redis = format!(
            "{GOOD}[[redis]]\nname = \"cache-a\"\nurl = \"redis://10.0.0.5:6380/2\"\npassword_file = \"/run/pw\"\n"
        );
        let r = &Config::from_toml(&with_redis).unwrap().redis[0];
        assert_eq!(r.node_id, "10.0.0.5:6380");
        assert!(matches!(
            r.password,
            Some(super::super::PasswordSource::File(_))
        ));
    }

    fn redis_target(url: &str, name: &str) -> String {
        format!("{GOOD}[[redis]]\nname = \"{name}\"\nurl = \"{url}\"\n")
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                GOOD.replace("top_clients = 3", "top_client = 3"),
                "top_client",
            ),
            (GOOD.replace("\"30s\"", "\"30 parsecs\""), "scan_interval"),
            (
                GOOD.replace("top_clients = 3", "top_clients = 1000"),
                "exporter.top_clients",
            ),
            (
                GOOD.replace("project_id = \"p1\"", ""),
                "cloud[prod].project_id",
            ),
            (
                GOOD.replace("\"n2\"", "\"n1\""),
                "cloud[prod].dcs_instance[0].nodes",
            ),
            (
                GOOD.replace("[exporter]", "[exporter]\nidle_buckets = [5, 1]"),
                "exporter.idle_buckets",
            ),
            (
                GOOD.replace("[exporter]", "[exporter]\nscan_timeout = \"2m\""),
                "exporter.scan_timeout",
            ),
            (
                GOOD.replace("region = \"cn-north-4\"", "region = \"cn north\""),
                "cloud[prod].region",
            ),
            ("[exporter]\n".to_string(), "cloud"),
            (redis_target("redis://:pw@h:6379", "r"), "redis[r].url"),
            (redis_target("redis://h:6379", "i1"), "redis[i1].name"),
            (redis_target("http://h", "r"), "redis[r].url"),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }
}
