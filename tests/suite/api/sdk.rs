//! Huawei's own SDKs against the simulator.

use super::*;

/// Whether `python3` can import Huawei's DCS and DBSS SDKs.
fn huawei_sdks_installed() -> Result<(), String> {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import huaweicloudsdkdcs.v2, huaweicloudsdkdbss.v1"])
        .env("HOME", std::env::temp_dir())
        .output()
        .map_err(|e| format!("python3 cannot be run: {e}"))?;
    if probe.status.success() {
        Ok(())
    } else {
        Err(
            "Huawei's Python SDKs are not installed (pip install -r tests/sdk/requirements.txt)"
                .into(),
        )
    }
}

#[tokio::test]
async fn huawei_sdks_work_unchanged_against_the_simulator() {
    if let Err(why) = huawei_sdks_installed() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run this test: {why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let mut t = Topology::demo();
    t.job_duration = Duration::from_millis(300);
    // Long enough to see a key analysis waiting, then running.
    t.key_task_duration = Duration::from_millis(600);
    // Longer than the 40 minutes before expiry at which the SDK renews at every call.
    t.credential_lifetime = Some(Duration::from_secs(3 * 3600));
    let mut config = SimConfig::new(Credentials::new(AK, SK), t);
    config.project_id = Some(PROJECT.into());
    const ID_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.sdk-check.signature";
    const POD_TOKEN: &str = "pod-identity-sdk-check";
    config.credential_services.oidc_id_token =
        Some(dcs_session_exporter::cloud::Secret::new(ID_TOKEN));
    config.credential_services.pod_identity_token =
        Some(dcs_session_exporter::cloud::Secret::new(POD_TOKEN));
    let (_sim, url) = start_sim(config).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/check_sdk.py");
    let run = tokio::process::Command::new("python3")
        .args([
            script,
            "--endpoint",
            &url,
            "--ak",
            AK,
            "--sk",
            SK,
            "--project-id",
            PROJECT,
            "--project-only",
            "--oidc-id-token",
            ID_TOKEN,
            "--pod-token",
            POD_TOKEN,
        ])
        .env("HOME", std::env::temp_dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the SDK check finishes within 3 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the SDK check failed:\n{stdout}");
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(" 0 failed"), "{summary}");
    let passed: u32 = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 33, "{summary}");
}
