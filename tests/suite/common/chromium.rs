//! Headless Chromium (Debian's `chromium`) for what a browser shows of the exporter's pages:
//! each run in a throwaway profile, on loopback pages or local files, ended after a bounded
//! time.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::in_ci;
use super::process::Dir;

/// How long one page load (and its dump or screenshot) may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A Chromium program that runs.
pub struct Chromium {
    program: PathBuf,
}

impl Chromium {
    /// Chromium when installed. Without it: a panic under `CI=true`, since CI must run these
    /// tests; elsewhere `None`, saying why the test skips.
    pub fn find_or_skip() -> Option<Self> {
        let found = ["chromium", "chromium-browser", "/usr/bin/chromium"]
            .into_iter()
            .map(PathBuf::from)
            .find(|program| {
                Command::new(program)
                    .arg("--version")
                    .stdin(Stdio::null())
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
        match found {
            Some(program) => Some(Self { program }),
            None if in_ci() => panic!(
                "CI must provide chromium: it is not installed (Debian: apt-get install chromium)"
            ),
            None => {
                eprintln!("skipped: chromium is not installed (Debian: apt-get install chromium)");
                None
            }
        }
    }

    /// The DOM of `url` once loaded (its scripts run), in a window `width` by `height`.
    pub fn dump_dom(&self, url: &str, width: u32, height: u32) -> String {
        let dir = scratch("dom");
        let output = self.run(&dir, &["--dump-dom".into(), url.into()], width, height);
        String::from_utf8_lossy(&output).into_owned()
    }

    /// A PNG of `url` as a window `width` by `height` shows it, written to `path`.
    pub fn screenshot(&self, url: &str, width: u32, height: u32, path: &Path) {
        let dir = scratch("screenshot");
        let _ = std::fs::remove_file(path);
        let shot = format!("--screenshot={}", path.display());
        self.run(
            &dir,
            &["--hide-scrollbars".into(), shot, url.into()],
            width,
            height,
        );
        assert!(
            path.is_file(),
            "chromium wrote no screenshot at {}",
            path.display()
        );
    }

    /// Runs Chromium on `args` with a profile in `dir`; its standard output. Panics with what
    /// it said when it fails or outlives [`RUN_TIMEOUT`].
    fn run(&self, dir: &Dir, args: &[String], width: u32, height: u32) -> Vec<u8> {
        let stdout = dir.0.join("stdout");
        let stderr = dir.0.join("stderr");
        // Output to files, not pipes: a large DOM would fill a pipe nobody reads while waiting.
        let mut child = Command::new(&self.program)
            .args(["--headless", "--disable-gpu", "--no-sandbox"])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!(
                "--user-data-dir={}",
                dir.0.join("profile").display()
            ))
            // Nothing but the page: no first-run work, no updates, no calls home.
            .args([
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-dev-shm-usage",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.program.display()));
        let until = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromium did not finish within {RUN_TIMEOUT:?}: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "chromium {args:?}: {status}: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        std::fs::read(&stdout).unwrap()
    }
}

/// A folder of its own for one run: its profile and output, removed after.
fn scratch(what: &str) -> Dir {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    Dir::new(&format!(
        "chromium-{what}-{}",
        RUNS.fetch_add(1, Ordering::Relaxed)
    ))
}
