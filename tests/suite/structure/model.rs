//! The crate as the guard sees it: its modules and files, the paths each names, and those paths
//! resolved to the files that define them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

use super::collect::Collector;

/// One module of the crate: the file it lives in, its child modules, the names its `use` lines
/// bind (alias to the absolute path named) and the modules it imports whole (`use a::*`).
#[derive(Default)]
pub(super) struct Module {
    pub(super) file: String,
    pub(super) children: BTreeSet<String>,
    pub(super) bindings: BTreeMap<String, Vec<String>>,
    pub(super) globs: Vec<Vec<String>>,
}

/// A reference from a file to a path, as written (made absolute), with the line it is on.
pub(super) struct Reference {
    pub(super) module: Vec<String>,
    pub(super) path: Vec<String>,
    pub(super) line: usize,
    /// Whether it comes from a `pub use`: a re-export, not an import.
    pub(super) reexport: bool,
}

#[derive(Default)]
pub(super) struct Crate {
    pub(super) root: PathBuf,
    pub(super) modules: BTreeMap<Vec<String>, Module>,
    pub(super) references: Vec<Reference>,
    /// Function name, file, line, length.
    pub(super) functions: Vec<(String, String, usize, usize)>,
    /// File and line count.
    pub(super) files: Vec<(String, usize)>,
}

impl Crate {
    /// Reads the crate whose `lib.rs` is in `root`.
    pub(super) fn load(root: &Path) -> Crate {
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
        let mut visitor = Collector::new(self, rel, module.clone());
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
    pub(super) fn resolve(&self, path: &[String], depth: usize) -> Option<String> {
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
    pub(super) fn is_module(&self, path: &[String]) -> bool {
        self.is_module_within(path, 0)
    }

    /// As [`Crate::is_module`], following at most 16 re-exports (bindings that name each
    /// other cannot loop it).
    fn is_module_within(&self, path: &[String], depth: usize) -> bool {
        if depth > 16 {
            return false;
        }
        let mut module: Vec<String> = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            match self.modules.get(&module) {
                Some(m) if m.children.contains(segment) => module.push(segment.clone()),
                Some(m) => {
                    return match m.bindings.get(segment) {
                        Some(b) => {
                            let mut target = b.clone();
                            target.extend_from_slice(&path[i + 1..]);
                            target != path && self.is_module_within(&target, depth + 1)
                        }
                        None => false,
                    };
                }
                None => return false,
            }
        }
        true
    }

    /// Each import between two different files: from, to, and where and what.
    pub(super) fn edges(&self) -> BTreeMap<(String, String), Vec<String>> {
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
