//! What the test areas share: the in-process harness (a simulator and an exporter on loopback,
//! the exposition parsed), the exporter as a child process, a real redis-server and headless
//! Chromium.

pub mod chromium;
pub mod harness;
pub mod process;
pub mod redis_server;

/// `CI=true` (GitHub Actions, GitLab, ...) or `CI=1`: tests that need an external program fail
/// without it instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether `program` runs (`program --version`); when not, panics under CI, else says the test
/// skips and how to get the program (`install`).
pub fn available(program: &str, install: &str) -> bool {
    let runs = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        let why = format!("{program} is not installed ({install})");
        if in_ci() {
            panic!("CI must provide {program}: {why}");
        }
        eprintln!("skipped: {why}");
    }
    runs
}
