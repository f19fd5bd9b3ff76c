//! An LRU cache of decoded code keyed by the code-upload transaction's hash, bounded by the
//! total bytes it holds. Owned by `CodeStore`; no locks, no timers.
//!
//! Invariant: [`CodeCache::bytes`] never exceeds [`CodeCache::max_bytes`]. Each entry is
//! charged its code length plus [`ENTRY_OVERHEAD`], so even empty code cannot grow the entry
//! count without bound. Inserting evicts least recently used entries until the new one fits;
//! an entry that could never fit is not cached. Values are `Arc<[u8]>`, so a hit is a
//! reference-count increment, never a copy.

use std::sync::Arc;

use lru::LruCache;

use crate::domain::TxHash;

/// Bytes charged per entry on top of the code: the key, the `Arc` header and the list links.
pub const ENTRY_OVERHEAD: usize = 64;

/// The byte-bounded LRU cache.
#[derive(Debug)]
pub struct CodeCache {
    entries: LruCache<TxHash, Arc<[u8]>>,
    bytes: usize,
    max_bytes: usize,
}

impl CodeCache {
    /// An empty cache holding at most `max_bytes` (code plus per-entry overhead).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            entries: LruCache::unbounded(),
            bytes: 0,
            max_bytes,
        }
    }

    /// The code for `hash`, marking it most recently used.
    pub fn get(&mut self, hash: &TxHash) -> Option<Arc<[u8]>> {
        self.entries.get(hash).cloned()
    }

    /// Caches `code` as the most recently used entry, evicting the least recently used ones
    /// until it fits. Returns `false` (and caches nothing) when the entry alone exceeds the
    /// bound. Replaces an existing entry for the same hash.
    pub fn insert(&mut self, hash: TxHash, code: Arc<[u8]>) -> bool {
        if let Some(old) = self.entries.pop(&hash) {
            self.bytes -= cost(&old);
        }
        let needed = cost(&code);
        if needed > self.max_bytes {
            return false;
        }
        while self.bytes + needed > self.max_bytes {
            match self.entries.pop_lru() {
                Some((_, evicted)) => self.bytes -= cost(&evicted),
                None => break,
            }
        }
        self.bytes += needed;
        self.entries.put(hash, code);
        true
    }

    /// Whether `hash` is cached, without touching its recency.
    pub fn contains(&self, hash: &TxHash) -> bool {
        self.entries.contains(hash)
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes charged for the cached entries.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The bound given at construction.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

/// What an entry counts against the bound.
fn cost(code: &[u8]) -> usize {
    code.len().saturating_add(ENTRY_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> TxHash {
        TxHash([n; 32])
    }

    fn code(len: usize) -> Arc<[u8]> {
        vec![7; len].into()
    }

    /// Room for exactly `n` entries of `len` code bytes.
    fn cache_for(n: usize, len: usize) -> CodeCache {
        CodeCache::new(n * (len + ENTRY_OVERHEAD))
    }

    #[test]
    fn evicts_the_least_recently_used_entry_first() {
        let mut cache = cache_for(3, 100);
        for n in 1..=3 {
            assert!(cache.insert(hash(n), code(100)));
        }
        // Touch 1, so 2 is now the least recently used.
        assert!(cache.get(&hash(1)).is_some());
        assert!(cache.insert(hash(4), code(100)));
        assert!(!cache.contains(&hash(2)));
        for n in [1, 3, 4] {
            assert!(cache.contains(&hash(n)), "entry {n} kept");
        }
        assert!(cache.insert(hash(5), code(100)));
        assert!(!cache.contains(&hash(3)), "3 was next in line");
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn a_large_entry_evicts_as_many_as_it_needs() {
        let mut cache = cache_for(4, 100);
        for n in 1..=4 {
            cache.insert(hash(n), code(100));
        }
        // Needs the room of three small entries: 1, 2 and 3 go, 4 stays.
        assert!(cache.insert(hash(9), code(3 * 100 + 2 * ENTRY_OVERHEAD)));
        assert_eq!(cache.len(), 2);
        assert!(cache.contains(&hash(4)) && cache.contains(&hash(9)));
        assert_eq!(cache.bytes(), cache.max_bytes());
    }

    #[test]
    fn bytes_never_exceed_the_bound() {
        let mut cache = CodeCache::new(10_000);
        for n in 0..200u8 {
            cache.insert(hash(n), code(usize::from(n) * 37 % 3_000));
            assert!(cache.bytes() <= cache.max_bytes());
            let charged: usize = (0..=n)
                .filter(|m| cache.contains(&hash(*m)))
                .map(|m| usize::from(m) * 37 % 3_000 + ENTRY_OVERHEAD)
                .sum();
            assert_eq!(cache.bytes(), charged);
        }
    }

    #[test]
    fn an_entry_larger_than_the_bound_is_not_cached_and_evicts_nothing() {
        let mut cache = cache_for(2, 100);
        cache.insert(hash(1), code(100));
        assert!(!cache.insert(hash(2), code(cache.max_bytes())));
        assert!(!cache.contains(&hash(2)));
        assert!(cache.contains(&hash(1)));
        assert_eq!(cache.bytes(), 100 + ENTRY_OVERHEAD);
    }

    #[test]
    fn replacing_an_entry_recharges_it() {
        let mut cache = cache_for(2, 100);
        cache.insert(hash(1), code(100));
        cache.insert(hash(1), code(10));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.bytes(), 10 + ENTRY_OVERHEAD);
        assert_eq!(cache.get(&hash(1)).unwrap().len(), 10);
    }

    #[test]
    fn hits_share_the_same_allocation() {
        let mut cache = cache_for(1, 3);
        let stored: Arc<[u8]> = Arc::from(&b"abc"[..]);
        cache.insert(hash(1), stored.clone());
        assert!(Arc::ptr_eq(&cache.get(&hash(1)).unwrap(), &stored));
        assert!(cache.get(&hash(2)).is_none());
    }

    #[test]
    fn a_zero_bound_caches_nothing() {
        let mut cache = CodeCache::new(0);
        assert!(!cache.insert(hash(1), code(0)));
        assert!(cache.is_empty());
    }
}
