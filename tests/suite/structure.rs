//! The shape of `src/`, checked: imports between files point one way (no cycle), each layer
//! imports only what its rule allows, and no file or function outgrows one concern.
//!
//! The source is parsed with `syn`. Every module is mapped to its file; every path a file names
//! (`use` trees, paths in code and types, `crate::`/`super::` paths inside macro calls) is
//! resolved to the file that defines the name, following `use` and `pub use` re-exports. A `pub
//! use` is a pass-through, not an import of its own: whoever names the re-exported item depends
//! on the file that defines it. `mod` lines are not imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::visit::Visit;

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

/// One module of the crate: the file it lives in, its child modules, the names its `use` lines
/// bind (alias to the absolute path named) and the modules it imports whole (`use a::*`).
#[derive(Default)]
struct Module {
    file: String,
    children: BTreeSet<String>,
    bindings: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
}

/// A reference from a file to a path, as written (made absolute), with the line it is on.
struct Reference {
    module: Vec<String>,
    path: Vec<String>,
    line: usize,
    /// Whether it comes from a `pub use`: a re-export, not an import.
    reexport: bool,
}

#[derive(Default)]
struct Crate {
    root: PathBuf,
    modules: BTreeMap<Vec<String>, Module>,
    references: Vec<Reference>,
    /// Function name, file, line, length.
    functions: Vec<(String, String, usize, usize)>,
    /// File and line count.
    files: Vec<(String, usize)>,
}

impl Crate {
    /// Reads the crate whose `lib.rs` is in `root`.
    fn load(root: &Path) -> Crate {
        let mut krate = Crate {
            root: root.to_path_buf(),
            ..Crate::default()
        };
        krate.load_file(&root.join("lib.rs"), Vec::new());
        krate
    }

    fn load_file(&mut self, path: &Path, module: Vec<String>) {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let rel = path
            .strip_prefix(&self.root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        self.files.push((rel.clone(), text.lines().count()));
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("parsing {rel}: {e}"));
        // The folder a child module's file is looked for in.
        let dir = match path.file_name().and_then(|n| n.to_str()) {
            Some("lib.rs" | "mod.rs" | "main.rs") => path.parent().unwrap().to_path_buf(),
            _ => path.with_extension(""),
        };
        self.load_items(&file.items, &rel, &dir, module);
    }

    fn load_items(&mut self, items: &[syn::Item], rel: &str, dir: &Path, module: Vec<String>) {
        let entry = self.modules.entry(module.clone()).or_default();
        entry.file = rel.to_string();
        for item in items {
            if let syn::Item::Mod(m) = item {
                entry.children.insert(m.ident.to_string());
            }
        }
        let mut visitor = Collector {
            krate: self,
            rel,
            module: module.clone(),
            in_macro_rules: false,
        };
        // The `use` lines first, so that paths in code before them see their bindings.
        for item in items {
            if let syn::Item::Use(u) = item {
                visitor.visit_item_use(u);
            }
        }
        for item in items {
            if !matches!(item, syn::Item::Use(_)) {
                visitor.visit_item(item);
            }
        }
        for item in items {
            let syn::Item::Mod(m) = item else { continue };
            let name = m.ident.to_string();
            let mut child = module.clone();
            child.push(name.clone());
            match &m.content {
                Some((_, inner)) => self.load_items(inner, rel, &dir.join(&name), child),
                None => {
                    let explicit = m.attrs.iter().find_map(|a| {
                        let syn::Meta::NameValue(nv) = &a.meta else {
                            return None;
                        };
                        if !nv.path.is_ident("path") {
                            return None;
                        }
                        let syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(s),
                            ..
                        }) = &nv.value
                        else {
                            return None;
                        };
                        Some(s.value())
                    });
                    let file = match explicit {
                        Some(p) => dir.parent().unwrap().join(p),
                        None if dir.join(format!("{name}.rs")).exists() => {
                            dir.join(format!("{name}.rs"))
                        }
                        None => dir.join(&name).join("mod.rs"),
                    };
                    self.load_file(&file, child);
                }
            }
        }
    }

    /// The file that defines what `path` (absolute) names, following re-exports.
    fn resolve(&self, path: &[String], depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let mut module: Vec<String> = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let m = self.modules.get(&module)?;
            if m.children.contains(segment) {
                module.push(segment.clone());
                continue;
            }
            if let Some(binding) = m.bindings.get(segment) {
                let mut target = binding.clone();
                target.extend_from_slice(&path[i + 1..]);
                if target != path {
                    return self.resolve(&target, depth + 1);
                }
            }
            for glob in &m.globs {
                let mut target = glob.clone();
                target.extend_from_slice(&path[i..]);
                if let Some(file) = self.resolve_defined(&target, depth + 1) {
                    return Some(file);
                }
            }
            return Some(m.file.clone());
        }
        self.modules.get(&module).map(|m| m.file.clone())
    }

    /// Like [`Crate::resolve`], but only when a glob's module really has the name.
    fn resolve_defined(&self, path: &[String], depth: usize) -> Option<String> {
        let (last, parent) = path.split_last()?;
        let mut module: Vec<String> = Vec::new();
        for segment in parent {
            let m = self.modules.get(&module)?;
            if !m.children.contains(segment) {
                return None;
            }
            module.push(segment.clone());
        }
        let m = self.modules.get(&module)?;
        (m.children.contains(last) || m.bindings.contains_key(last))
            .then(|| self.resolve(path, depth))
            .flatten()
    }

    /// Whether the absolute path names a module (not an item in one).
    fn is_module(&self, path: &[String]) -> bool {
        let mut module: Vec<String> = Vec::new();
        for segment in path {
            match self.modules.get(&module) {
                Some(m) if m.children.contains(segment) => module.push(segment.clone()),
                Some(m) => {
                    return match m.bindings.get(segment) {
                        Some(b) => {
                            let idx = path.iter().position(|s| s == segment).unwrap();
                            let mut target = b.clone();
                            target.extend_from_slice(&path[idx + 1..]);
                            target != path && self.is_module(&target)
                        }
                        _ => false,
                    };
                }
                None => return false,
            }
        }
        true
    }

    /// Each import between two different files: from, to, and where and what.
    fn edges(&self) -> BTreeMap<(String, String), Vec<String>> {
        let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for r in &self.references {
            if r.reexport || self.is_module(&r.path) {
                continue;
            }
            let from = &self.modules[&r.module].file;
            let Some(to) = self.resolve(&r.path, 0) else {
                continue;
            };
            if &to != from {
                edges.entry((from.clone(), to)).or_default().push(format!(
                    "{from}:{} names {}",
                    r.line,
                    r.path.join("::")
                ));
            }
        }
        edges
    }
}

/// Walks one module's items and records every path it names.
struct Collector<'a> {
    krate: &'a mut Crate,
    rel: &'a str,
    module: Vec<String>,
    in_macro_rules: bool,
}

impl Collector<'_> {
    /// The path made absolute, if it names something of the crate.
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        let mut base = match first.as_str() {
            "crate" | "$crate" => Vec::new(),
            "self" => self.module.clone(),
            "super" => {
                let mut m = self.module.clone();
                m.pop()?;
                let mut rest = rest;
                while rest.first().map(String::as_str) == Some("super") {
                    m.pop()?;
                    rest = &rest[1..];
                }
                m.extend_from_slice(rest);
                return Some(m);
            }
            _ => {
                let here = self.krate.modules.get(&self.module)?;
                if here.children.contains(first) {
                    let mut m = self.module.clone();
                    m.push(first.clone());
                    m
                } else {
                    here.bindings.get(first)?.clone()
                }
            }
        };
        base.extend_from_slice(rest);
        Some(base)
    }

    fn reference(&mut self, segments: &[String], line: usize, reexport: bool) {
        if let Some(path) = self.absolute(segments) {
            self.krate.references.push(Reference {
                module: self.module.clone(),
                path,
                line,
                reexport,
            });
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, public: bool) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, public);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                let mut full = prefix.clone();
                if name != "self" {
                    full.push(name.clone());
                }
                let alias = if name == "self" {
                    prefix.last().cloned().unwrap_or_default()
                } else {
                    name
                };
                self.bind(alias, &full, public, n.ident.span().start().line);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                if r.ident != "self" {
                    full.push(r.ident.to_string());
                }
                self.bind(
                    r.rename.to_string(),
                    &full,
                    public,
                    r.ident.span().start().line,
                );
            }
            syn::UseTree::Glob(g) => {
                if let Some(path) = self.absolute(prefix) {
                    let line = g.star_token.span().start().line;
                    self.krate
                        .modules
                        .get_mut(&self.module)
                        .unwrap()
                        .globs
                        .push(path.clone());
                    self.krate.references.push(Reference {
                        module: self.module.clone(),
                        path,
                        line,
                        reexport: public,
                    });
                }
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t, public);
                }
            }
        }
    }

    fn bind(&mut self, alias: String, full: &[String], public: bool, line: usize) {
        let Some(path) = self.absolute(full) else {
            return;
        };
        self.krate.references.push(Reference {
            module: self.module.clone(),
            path: path.clone(),
            line,
            reexport: public,
        });
        self.krate
            .modules
            .get_mut(&self.module)
            .unwrap()
            .bindings
            .insert(alias, path);
    }

    /// Paths inside a macro call's tokens: `crate::a::b`, `$crate::a`, `super::a`.
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            if let TokenTree::Group(g) = &trees[i] {
                self.tokens(g.stream());
                i += 1;
                continue;
            }
            let TokenTree::Ident(ident) = &trees[i] else {
                i += 1;
                continue;
            };
            let relative = matches!(ident.to_string().as_str(), "super" | "self");
            if relative && self.in_macro_rules {
                i += 1;
                continue;
            }
            let starts = relative
                || ident == "crate"
                || (i > 0 && matches!(&trees[i - 1], TokenTree::Punct(p) if p.as_char() == '$'));
            let name = ident.to_string();
            let bound = self
                .krate
                .modules
                .get(&self.module)
                .is_some_and(|m| m.bindings.contains_key(&name) || m.children.contains(&name));
            let after_colons = i >= 2
                && matches!(&trees[i - 1], TokenTree::Punct(p) if p.as_char() == ':')
                && matches!(&trees[i - 2], TokenTree::Punct(p) if p.as_char() == ':');
            if !(starts || bound) || after_colons {
                i += 1;
                continue;
            }
            let line = ident.span().start().line;
            let mut segments = vec![ident.to_string()];
            let mut j = i + 1;
            while j + 2 < trees.len() {
                match (&trees[j], &trees[j + 1], trees.get(j + 2)) {
                    (TokenTree::Punct(a), TokenTree::Punct(b), Some(TokenTree::Ident(next)))
                        if a.as_char() == ':' && b.as_char() == ':' =>
                    {
                        segments.push(next.to_string());
                        j += 3;
                    }
                    _ => break,
                }
            }
            if segments.len() > 1 {
                if segments[0] == "$crate" || ident == "crate" {
                    segments[0] = "crate".into();
                }
                self.reference(&segments, line, false);
            }
            i = j;
        }
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let public = !matches!(u.vis, syn::Visibility::Inherited);
        let mut prefix = Vec::new();
        if u.leading_colon.is_none() {
            self.use_tree(&mut prefix, &u.tree, public);
        }
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // Loaded as a module of its own.
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() && path.segments.len() > 1 {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            self.reference(&segments, path.span().start().line, false);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        self.tokens(mac.tokens.clone());
    }

    fn visit_item_macro(&mut self, m: &'ast syn::ItemMacro) {
        // A `macro_rules!` body's `super::` and `self::` name the places it is expanded in.
        self.in_macro_rules = m.mac.path.is_ident("macro_rules");
        self.visit_macro(&m.mac);
        self.in_macro_rules = false;
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.function(&f.sig, f.block.span());
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.function(&f.sig, f.block.span());
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.function(&f.sig, block.span());
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

impl Collector<'_> {
    /// A function's length: from its signature to the end of its body, doc comments aside.
    fn function(&mut self, sig: &syn::Signature, body: proc_macro2::Span) {
        let (start, end) = (sig.fn_token.span.start().line, body.end().line);
        self.krate.functions.push((
            sig.ident.to_string(),
            self.rel.to_string(),
            start,
            end + 1 - start,
        ));
    }
}

/// Strongly connected groups of more than one file: the import cycles.
fn cycles(edges: &BTreeMap<(String, String), Vec<String>>) -> Vec<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().push(to);
        graph.entry(to).or_default();
    }
    // Tarjan's algorithm, iteratively small enough to write recursively here.
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        groups: Vec<Vec<String>>,
    }
    fn connect<'a>(v: &'a str, graph: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in &graph[v] {
            if !s.index.contains_key(w) {
                connect(w, graph, s);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.groups.push(group);
            }
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        groups: Vec::new(),
    };
    for &v in graph.keys() {
        if !state.index.contains_key(v) {
            connect(v, &graph, &mut state);
        }
    }
    state.groups
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
        "{} structure rule(s) broken (rules: tests/suite/structure.rs, README's Development):\n{}",
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
