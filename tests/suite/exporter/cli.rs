//! The command line: `check-config`.

fn exporter_binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"));
    cmd.env_remove("CLOUD_SDK_AK")
        .env_remove("HUAWEICLOUD_SDK_AK");
    cmd
}

#[test]
fn check_config_validates_the_example_and_names_bad_keys() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/exporter.toml");
    let ok = exporter_binary()
        .args(["check-config", "--config", example])
        .env("CLOUD_SDK_AK", "ak")
        .env("CLOUD_SDK_SK", "sk")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.contains("valid") && out.contains("DBSS resource"));
    assert!(
        !out.contains("ak") || !out.contains("=ak"),
        "no secret is printed"
    );

    let no_creds = exporter_binary()
        .args(["check-config", "--config", example])
        .env_remove("CLOUD_SDK_SK")
        .env_remove("HUAWEICLOUD_SDK_SK")
        .output()
        .unwrap();
    assert!(!no_creds.status.success());
    assert!(String::from_utf8_lossy(&no_creds.stderr).contains("CLOUD_SDK_AK"));

    let dir = std::env::temp_dir().join(format!("dcs-exporter-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("top_clients = 5", "top_clients = \"five\"");
    std::fs::write(&bad, text).unwrap();
    let out = exporter_binary()
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("top_clients"));
    std::fs::remove_dir_all(&dir).unwrap();
}
