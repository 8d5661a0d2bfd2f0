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

/// Whether two strings are equal; compared a word at a time without a call to `memcmp`, which
/// costs more than the compare itself for strings this short (addresses, names, commands).
#[inline(always)]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word =
        |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or_default());
    let half =
        |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or_default());
    match n {
        // The first and the last word, overlapping where the string is shorter than two.
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

impl Interner {
    #[inline]
    pub(super) fn id(&mut self, s: &str) -> u32 {
        if let Some(last) = self.last
            && same(&self.names[last as usize], s)
        {
            return last;
        }
        let hash = hash(s);
        let names = &mut self.names;
        let id = match self.ids.find(hash, |&id| same(&names[id as usize], s)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_compare_equal_only_when_they_are() {
        let words = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
            "10.0.0.1",
            "10.0.0.2",
            "10.0.1.1",
        ];
        for a in words {
            for b in words {
                assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            }
            // Each byte changed in turn.
            for i in 0..a.len() {
                let mut changed = a.as_bytes().to_vec();
                changed[i] ^= 1;
                let changed = String::from_utf8(changed).unwrap();
                assert!(!same(a, &changed), "{a:?} {changed:?}");
            }
        }
        let mut interner = Interner::default();
        let ids: Vec<u32> = ["x", "y", "x", "10.0.0.1", "10.0.0.1", "y"]
            .iter()
            .map(|s| interner.id(s))
            .collect();
        assert_eq!(ids, vec![0, 1, 0, 2, 2, 1]);
        assert_eq!(interner.names, vec!["x", "y", "10.0.0.1"]);
    }
}
