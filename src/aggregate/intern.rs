//! Strings counted by number: interned once a scan, folded past a bound.

use rustc_hash::FxHashMap as HashMap;

/// Strings seen often (dbs, users, addresses) stored once and counted by number. The keys are
/// short and come from the node itself, so a fast non-keyed hash serves.
#[derive(Default)]
pub(super) struct Interner {
    ids: HashMap<String, u32>,
    pub(super) names: Vec<String>,
}

impl Interner {
    #[inline]
    pub(super) fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(s.to_string(), id);
        self.names.push(s.to_string());
        id
    }
}

/// `counts` by interned string, most first (ties by text): the first `keep`, then the rest
/// summed under `folded` when there is any.
pub(super) fn fold_counts(
    interner: &Interner,
    counts: &[u64],
    keep: usize,
    folded: &str,
) -> Vec<(String, u64)> {
    let mut ranked: Vec<(&str, u64)> = interner
        .names
        .iter()
        .map(String::as_str)
        .zip(counts.iter().copied())
        .filter(|(_, n)| *n > 0)
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let rest: u64 = ranked.iter().skip(keep).map(|(_, n)| n).sum();
    let mut out: Vec<(String, u64)> = ranked
        .into_iter()
        .take(keep)
        .map(|(name, n)| (name.to_string(), n))
        .collect();
    if rest > 0 {
        // A kept name equal to the fold's (a command literally called "other") joins it.
        match out.iter_mut().find(|(name, _)| name == folded) {
            Some(entry) => entry.1 += rest,
            None => out.push((folded.to_string(), rest)),
        }
    }
    out
}
