//! The shape of `src/`, checked: imports between files point one way (no cycle), each layer
//! imports only what its rule allows, and no file or function outgrows one concern.
//!
//! The source is parsed with `syn`. Every module is mapped to its file; every path a file names
//! (`use` trees, paths in code and types, `crate::`/`super::` paths inside macro calls) is
//! resolved to the file that defines the name, following `use` and `pub use` re-exports. A `pub
//! use` is a pass-through, not an import of its own: whoever names the re-exported item depends
//! on the file that defines it. `mod` lines are not imports.
//!
//! The rules are below; `model.rs` reads the crate, `collect.rs` walks a file's syntax,
//! `cycles.rs` finds the import cycles.

mod collect;
mod cycles;
mod model;

use std::path::{Path, PathBuf};

use cycles::cycles;
use model::Crate;

/// No source file is longer than this, tests included: a longer one is several concerns.
const MAX_FILE_LINES: usize = 600;
/// No function is longer than this.
const MAX_FN_LINES: usize = 120;

/// The files at the ground of the crate: they import nothing of it, and everything may import them.
const GROUND: &[&str] = &[
    "session/",
    "reason.rs",
    "files.rs",
    "logging.rs",
    "memory.rs",
    "upstream_text.rs",
    "supervisor.rs",
];

/// Layers that import only what is listed besides the ground: files under any of the first (a
/// folder ending in `/`, or a file; relative to `src/`) import only ground files and files under
/// the second.
const ONLY: &[(&[&str], &[&str], &str)] = &[
    (GROUND, &[], "ground files import nothing of the crate"),
    (
        &["cloud/", "redis/"],
        &["cloud/", "redis/"],
        "the wire layer imports only itself and the ground: it knows nothing of what is done with its answers",
    ),
    (
        &["aggregate/"],
        &["aggregate/"],
        "aggregation imports only the ground: it turns session records into numbers",
    ),
    (
        &["sim/"],
        &["sim/", "cloud/", "redis/"],
        "the simulator stands in for the cloud: it shares only the wire layer and the ground",
    ),
];

/// Imports forbidden to the layers in between: files under the first import no file under the
/// second.
const FORBIDDEN: &[(&str, &[&str], &str)] = &[
    (
        "metrics/",
        &["collect/", "server/", "sim/", "daemon.rs", "cli.rs"],
        "families are encoded from the snapshot (and the API client's own request counts)",
    ),
    (
        "snapshot",
        &[
            "collect/",
            "server/",
            "sim/",
            "metrics/",
            "daemon.rs",
            "cli.rs",
        ],
        "the snapshot is data: scans write it, the encoder reads it",
    ),
    (
        "server/",
        &["sim/", "collect/", "daemon.rs", "cli.rs"],
        "the HTTP server serves what it is handed",
    ),
    (
        "collect/",
        &["server/", "sim/", "metrics/", "daemon.rs", "cli.rs"],
        "scans write the snapshot and know nothing of who reads it",
    ),
];

/// The simulator is imported only by these files (the CLI that serves it and the demo).
const SIM: &str = "sim/";
const SIM_USERS: &[&str] = &["cli.rs", "demo.rs"];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn under(file: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') || !prefix.ends_with(".rs") {
        file.starts_with(prefix)
    } else {
        file == prefix
    }
}

/// Every broken rule, as lines to print.
fn violations(krate: &Crate) -> Vec<String> {
    let mut out = Vec::new();
    let edges = krate.edges();
    for group in cycles(&edges) {
        let mut line = format!("import cycle between {}:", group.join(", "));
        for ((from, to), why) in &edges {
            if group.contains(from) && group.contains(to) {
                line.push_str(&format!("\n    {from} -> {to}: {}", why.join("; ")));
            }
        }
        out.push(line);
    }
    for ((from, to), why) in &edges {
        let why = why.join("; ");
        for (layer, allowed, reason) in ONLY {
            let inside = |file: &str, set: &[&str]| set.iter().any(|p| under(file, p));
            if inside(from, layer) && !inside(to, allowed) && !inside(to, GROUND) {
                out.push(format!("{from} imports {to} ({why}): {reason}"));
            }
        }
        for (layer, forbidden, reason) in FORBIDDEN {
            if under(from, layer) && forbidden.iter().any(|f| under(to, f)) {
                out.push(format!("{from} imports {to} ({why}): {reason}"));
            }
        }
        if under(to, SIM) && !under(from, SIM) && !SIM_USERS.contains(&from.as_str()) {
            out.push(format!(
                "{from} imports {to} ({why}): only {} use the simulator",
                SIM_USERS.join(" and ")
            ));
        }
    }
    for (file, lines) in &krate.files {
        if *lines > MAX_FILE_LINES {
            out.push(format!(
                "{file} has {lines} lines, over {MAX_FILE_LINES}: split it by concern"
            ));
        }
    }
    for (name, file, line, len) in &krate.functions {
        if *len > MAX_FN_LINES {
            out.push(format!(
                "{file}:{line}: fn {name} has {len} lines, over {MAX_FN_LINES}"
            ));
        }
    }
    out
}

#[test]
fn source_tree_keeps_its_shape() {
    let krate = Crate::load(&src_dir());
    assert!(
        krate.files.len() > 40 && krate.edges().len() > 100,
        "the guard read too little of src/: {} files, {} imports",
        krate.files.len(),
        krate.edges().len()
    );
    let found = violations(&krate);
    assert!(
        found.is_empty(),
        "{} structure rule(s) broken (rules: tests/suite/structure/mod.rs, docs/development.md):\n{}",
        found.len(),
        found.join("\n")
    );
}

/// The guard itself can fail: a small crate with one of each fault.
#[test]
fn the_guard_finds_a_cycle_a_forbidden_import_a_long_file_and_a_long_function() {
    let root = std::env::temp_dir().join(format!("structure-guard-{}", std::process::id()));
    let src = root.join("src");
    std::fs::create_dir_all(src.join("cloud")).unwrap();
    let long_fn = format!("pub fn long() {{\n{}}}\n", "    let _ = 1;\n".repeat(119));
    let files = [
        (
            "lib.rs",
            "pub mod a;\npub mod b;\npub mod cloud;\npub mod collect;\n".to_string(),
        ),
        // a -> b by a `use`, b -> a by a path in a type.
        (
            "a.rs",
            "use crate::b::B;\npub struct A(pub Option<Box<B>>);\n".to_string(),
        ),
        (
            "b.rs",
            "pub struct B(pub Option<Box<crate::a::A>>);\n".to_string(),
        ),
        (
            "cloud/mod.rs",
            "pub fn f() -> crate::collect::X { crate::collect::X }\n".to_string(),
        ),
        (
            "collect.rs",
            format!("pub struct X;\n{long_fn}{}", "//\n".repeat(600)),
        ),
    ];
    for (path, text) in &files {
        std::fs::write(src.join(path), text).unwrap();
    }
    let found = violations(&Crate::load(&src));
    std::fs::remove_dir_all(&root).ok();
    let all = found.join("\n");
    for expected in [
        "import cycle between a.rs, b.rs",
        "cloud/mod.rs imports collect.rs",
        "collect.rs has 722 lines, over 600",
        "collect.rs:2: fn long has 121 lines, over 120",
    ] {
        assert!(all.contains(expected), "{expected:?} not found in:\n{all}");
    }
    assert_eq!(found.len(), 4, "{all}");
}
