//! Sharding: which replica scans which target.

/// This replica's share of the targets: a target belongs to shard
/// `fnv1a(instance_id/node_id) % count`, the same on every replica and every build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A shard index that no replica of the count can have.
#[derive(Debug, thiserror::Error)]
#[error("shard index {index} must be below the shard count {count}")]
pub struct ShardError {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError { index, count });
        }
        Ok(Self { index, count })
    }

    /// The index from a StatefulSet pod's name (`exporter-2` is 2).
    pub fn ordinal_from_hostname(hostname: &str) -> Option<u32> {
        hostname.rsplit_once('-')?.1.parse().ok()
    }

    pub fn owns(&self, parts: &[&str]) -> bool {
        // FNV-1a: stable across Rust releases, unlike the standard hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                hash = (hash ^ u64::from(b'/')).wrapping_mul(0x0100_0000_01b3);
            }
            for b in part.bytes() {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash % u64::from(self.count) == u64::from(self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn shards_split_stably_and_completely() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
        let mut per_shard = [0; 3];
        for n in 0..3000 {
            let node = format!("node-{n}");
            let owners: Vec<usize> = (0..3)
                .filter(|&i| shards[i].owns(&["inst", &node]))
                .collect();
            assert_eq!(owners.len(), 1, "exactly one shard owns {node}");
            per_shard[owners[0]] += 1;
        }
        assert!(
            per_shard.iter().all(|&n| (850..1150).contains(&n)),
            "{per_shard:?}"
        );
        // FNV-1a of "inst-1/node-a" modulo 7, computed independently: the split must not
        // change between builds.
        assert!(Shard::new(1, 7).unwrap().owns(&["inst-1", "node-a"]));
        assert_eq!(Shard::ordinal_from_hostname("dcs-exporter-2"), Some(2));
        assert_eq!(Shard::ordinal_from_hostname("exporter"), None);
        assert!(Shard::new(3, 3).is_err());
    }
}
