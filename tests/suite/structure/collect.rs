//! Walks one module's syntax and records every path it names: `use` trees, paths in code and
//! types, `crate::`/`super::` paths inside macro calls.

use proc_macro2::{TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::visit::Visit;

use super::model::{Crate, Reference};

/// Walks one module's items and records every path it names.
pub(super) struct Collector<'a> {
    krate: &'a mut Crate,
    rel: &'a str,
    module: Vec<String>,
    in_macro_rules: bool,
}

impl<'a> Collector<'a> {
    pub(super) fn new(krate: &'a mut Crate, rel: &'a str, module: Vec<String>) -> Self {
        Self {
            krate,
            rel,
            module,
            in_macro_rules: false,
        }
    }
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
