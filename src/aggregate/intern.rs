//! Strings counted by number: interned once a scan, folded past a bound.

use std::hash::Hasher;

use hashbrown::HashTable;
use rustc_hash::FxHasher;

/// Strings seen often (dbs, users, addresses) stored once and counted by number. The keys are
/// short and come from the node itself, so a fast non-keyed hash serves. The table holds ids
/// only, hashed by the text they stand for: each string is stored once.
#[derive(Default)]
pub(super) struct Interner {
    ids: HashTable<u32>,
    pub(super) names: Vec<String>,
    /// The id given last: sessions in a row often share a db, a user, a command.
    last: Option<u32>,
}

fn hash(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

impl Interner {
    #[inline]
    pub(super) fn id(&mut self, s: &str) -> u32 {
        if let Some(last) = self.last
            && self.names[last as usize] == s
        {
            return last;
        }
        let hash = hash(s);
        let names = &mut self.names;
        let id = match self.ids.find(hash, |&id| names[id as usize] == s) {
            Some(&id) => id,
            None => {
                let id = names.len() as u32;
                names.push(s.to_string());
                self.ids
                    .insert_unique(hash, id, |&id| self::hash(&names[id as usize]));
                id
            }
        };
        self.last = Some(id);
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
