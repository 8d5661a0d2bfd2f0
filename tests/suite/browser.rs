//! The landing page in a real browser (headless Chromium, Debian's `chromium`): its layout
//! with a hundred nodes, and the README's picture of it. Without Chromium these tests skip,
//! saying so (and fail under `CI=true`), except the check of the committed picture.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::chromium::Chromium;
use crate::common::harness;
use crate::common::process::{Dir, Exporter};

use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::config::Config;
use dcs_session_exporter::server::{DOCS_URL, LISTED_NODES};
use dcs_session_exporter::sim::topology::{Architecture, FaultSpec, InstanceSpec};
use dcs_session_exporter::sim::{SimConfig, Simulator, Topology};

const AK: &str = "AKBROWSERTEST001";
const SK: &str = "SKbrowsertest00000000000000001";
const PROJECT: &str = "p-browser";

/// The window the layout must fit: a common laptop screen.
const WIDTH: u32 = 1280;

/// The README's picture of the landing page, and the line that shows it.
const PICTURE: &str = "docs/images/landing-page.png";
const README_LINE: &str = "![The landing page on the demo](docs/images/landing-page.png)";
/// Set to 1 to take the picture again from the demo (needs Chromium):
/// `DCS_EXPORTER_REGENERATE_SCREENSHOT=1 cargo test --test suite browser::the_readme`.
const REGENERATE: &str = "DCS_EXPORTER_REGENERATE_SCREENSHOT";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Ten proxy-cluster instances of ten proxies each, from nearly idle to nearly full (few
/// sessions against a small maxclients, so that scanning them costs little); one
/// instance's name is long and carries markup, one node fails every scan.
fn hundred_nodes() -> Topology {
    let mut topology = Topology::demo();
    topology.job_duration = Duration::from_millis(50);
    topology.instances = (0..10u32)
        .map(|i| InstanceSpec {
            name: match i {
                8 => "<b>checkout</b>-sessions-of-the-european-storefront-and-its-mobile-applications"
                    .into(),
                _ => format!("cache-{i:02}"),
            },
            architecture: Architecture::Proxy,
            shards: 1,
            proxies: 10,
            sessions_per_node: 2 + i * 10,
            client_hosts: 4,
            max_clients: 100,
            ..Default::default()
        })
        .collect();
    topology.faults = vec![FaultSpec {
        instance: Some("cache-05".into()),
        node: Some(1),
        operation: "scan_clients".into(),
        kind: "error".into(),
        status: Some(500),
        code: Some("DCS.5000".into()),
        delay: None,
        bytes: None,
        times: 0,
        every: None,
    }];
    topology
}

/// Writes the window's width, the page's visible width and its whole width into the DOM, where
/// `--dump-dom` shows them; the page itself runs no script.
const LAYOUT_PROBE: &str = "<script>(function () { var e = document.scrollingElement; \
    var probe = document.createElement('output'); probe.id = 'layout-probe'; \
    probe.textContent = [innerWidth, e.clientWidth, e.scrollWidth].join(' '); \
    document.body.appendChild(probe); })();</script>";

/// `(window width, visible width, whole width)` as the probe wrote them.
fn layout(dom: &str) -> (u64, u64, u64) {
    let start = dom
        .find("<output id=\"layout-probe\">")
        .unwrap_or_else(|| panic!("no layout probe in the DOM:\n{dom:.2000}"))
        + "<output id=\"layout-probe\">".len();
    let end = start + dom[start..].find("</output>").unwrap();
    let numbers: Vec<u64> = dom[start..end]
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

/// The number after `<b>` in the line that counts the nodes not listed (0 without one).
fn counted_nodes(dom: &str) -> usize {
    let Some(line) = dom.find("id=\"more-nodes\"") else {
        return 0;
    };
    let rest = &dom[line..];
    let start = rest.find("<b>").unwrap() + 3;
    let end = rest.find("</b>").unwrap();
    rest[start..end].replace(',', "").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_fits_1280_px_and_lists_or_counts_each_of_100_nodes() {
    let Some(chromium) = Chromium::find_or_skip() else {
        return;
    };
    let mut sim_config = SimConfig::new(Credentials::new(AK, SK), hundred_nodes());
    sim_config.project_id = Some(PROJECT.into());
    let sim = Simulator::new(sim_config);
    let sim_url = harness::serve(sim.router()).await;
    let config = Config::from_toml(&format!(
        "[exporter]\nscan_interval = \"1h\"\nfirst_scan_spread = \"0s\"\n{}[cloud.discovery]\nenabled = true\n",
        harness::cloud_toml("browser", PROJECT, &sim_url)
    ))
    .unwrap();
    let in_process = harness::exporter(&config, Credentials::new(AK, SK)).await;
    let h = harness::SimAndExporter::new(sim, sim_url, in_process);
    h.wait_ready().await;
    let (status, page) = h.get("/").await;
    assert_eq!(status, 200);

    // The page as served, with the probe added, from a file: the page needs nothing else.
    let dir = Dir::new("landing-layout");
    let file = dir.write(
        "landing.html",
        &page.replace("</body>", &format!("{LAYOUT_PROBE}</body>")),
    );
    let dom = tokio::task::spawn_blocking(move || {
        chromium.dump_dom(&format!("file://{}", file.display()), WIDTH, 900)
    })
    .await
    .unwrap();

    let (window, visible, whole) = layout(&dom);
    eprintln!("window {window} px, view {visible} px, page {whole} px");
    assert_eq!(window, u64::from(WIDTH), "the window is {window} px wide");
    assert!(
        whole <= visible && whole <= u64::from(WIDTH),
        "the page is {whole} px wide in a {visible} px view: it scrolls sideways"
    );
    let listed = dom.matches("<tr class=\"node\">").count();
    assert_eq!(listed, LISTED_NODES.min(100));
    assert_eq!(
        listed + counted_nodes(&dom),
        100,
        "every node listed or counted"
    );
    // Worst first: the node whose scans fail heads the list.
    let first_row = dom.find("<tr class=\"node\">").unwrap();
    assert!(dom[first_row..].starts_with("<tr class=\"node\"><td>cache-05<"));
    assert!(dom.contains("DCS.5000"));
    // Upstream markup shows as text.
    assert!(dom.contains("&lt;b&gt;checkout&lt;/b&gt;") && !dom.contains("<b>checkout"));
    assert!(dom.contains("<a href=\"/metrics\">"));
    assert!(dom.contains(&format!("<a href=\"{DOCS_URL}\">")));
}

/// The demo (the exporter and its simulator, as `--demo` runs them) as a 1280 by 800 window
/// shows its landing page, written to [`PICTURE`].
async fn take_picture() {
    let chromium = Chromium::find_or_skip().expect("taking the picture needs chromium");
    let demo = Exporter::start(&["--demo"], &[]);
    let http = harness::http();
    harness::wait_for(Duration::from_secs(60), "the demo ready", || async {
        let ready = http.get(format!("{}/readyz", demo.base)).send().await;
        ready.is_ok_and(|r| r.status() == 200).then_some(())
    })
    .await;
    let url = format!("{}/", demo.base);
    tokio::task::spawn_blocking(move || chromium.screenshot(&url, WIDTH, 800, &repo(PICTURE)))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_readme_shows_a_1280_px_png_of_the_landing_page() {
    if std::env::var(REGENERATE).as_deref() == Ok("1") {
        take_picture().await;
    }
    let png = std::fs::read(repo(PICTURE))
        .unwrap_or_else(|e| panic!("{PICTURE}: {e} (make it with {REGENERATE}=1)"));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 33 && &png[12..16] == b"IHDR",
        "{PICTURE} is not a PNG"
    );
    let dimension = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!(
        (dimension(16), dimension(20)),
        (WIDTH, 800),
        "{PICTURE}'s size"
    );
    assert!(png.len() < 300 * 1024, "{PICTURE} has {} bytes", png.len());
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    assert_eq!(
        readme.lines().filter(|l| *l == README_LINE).count(),
        1,
        "README.md shows the picture once: {README_LINE}"
    );
}
