//! The chain listener's durable position: the first block whose logs are not all handled yet,
//! and the hashes of the most recent blocks seen, so that a reorg is noticed even across a
//! restart (anvil 1.7.1, like many RPCs, never sends `removed: true`).
//!
//! Pure data plus an atomic file store: the file is written to a temporary name, synced and
//! renamed over the old one, so a crash at any moment leaves either the old or the new
//! checkpoint, never a torn one. Owned by `ChainListener`; nothing else reads it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Block hashes remembered; a reorg deeper than this is treated as one this deep.
pub const REMEMBERED_BLOCKS: usize = 64;

const FILE_NAME: &str = "chain-checkpoint.json";

/// Where the listener stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Every log in blocks below this one has been handled.
    pub next_block: u64,
    /// Recent block numbers and their hashes as we saw them, hex-encoded in the file.
    #[serde(with = "hashes_as_hex")]
    pub hashes: BTreeMap<u64, [u8; 32]>,
}

/// Why the checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The state directory or file could not be read or written.
    #[error("checkpoint file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not a checkpoint.
    #[error("checkpoint file {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
}

impl Checkpoint {
    /// Records a block's hash. Returns the lowest block whose remembered hash disagrees (a
    /// reorg), or `None`. A disagreement at `number` also orphans everything above it.
    pub fn observe(&mut self, number: u64, hash: [u8; 32]) -> Option<u64> {
        let conflict = self
            .hashes
            .get(&number)
            .is_some_and(|known| *known != hash)
            .then_some(number);
        if conflict.is_none() {
            self.hashes.insert(number, hash);
            while self.hashes.len() > REMEMBERED_BLOCKS {
                self.hashes.pop_first();
            }
        }
        conflict
    }

    /// Like [`Checkpoint::observe`] for a block header: its parent hash must match too.
    pub fn observe_head(&mut self, number: u64, hash: [u8; 32], parent: [u8; 32]) -> Option<u64> {
        if let Some(parent_number) = number.checked_sub(1) {
            if let Some(conflict) = self.observe(parent_number, parent) {
                return Some(conflict);
            }
        }
        self.observe(number, hash)
    }

    /// Forgets everything from `fork` on: those blocks were replaced and their logs must be
    /// read again.
    pub fn rewind_to(&mut self, fork: u64) {
        self.hashes.split_off(&fork);
        self.next_block = self.next_block.min(fork);
    }

    /// Marks every block below `next` as handled (never moves backwards).
    pub fn advance_to(&mut self, next: u64) {
        self.next_block = self.next_block.max(next);
    }
}

/// The checkpoint file in the node's state directory.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    /// A store in `dir` (created on the first save).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The saved checkpoint, or `None` on a first start.
    pub fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = self.path();
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| CheckpointError::Corrupt { path, source })
    }

    /// Replaces the saved checkpoint atomically (temporary file, fsync, rename, fsync dir).
    pub fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CheckpointError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.path();
        let temporary = self.dir.join(format!("{FILE_NAME}.tmp"));
        let bytes = serde_json::to_vec(checkpoint).map_err(|source| CheckpointError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let mut file = std::fs::File::create(&temporary).map_err(io(&temporary))?;
        file.write_all(&bytes).map_err(io(&temporary))?;
        file.sync_all().map_err(io(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(io(&path))?;
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io(&self.dir))
    }
}

mod hashes_as_hex {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        hashes: &BTreeMap<u64, [u8; 32]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let text: BTreeMap<u64, String> = hashes
            .iter()
            .map(|(number, hash)| (*number, format!("0x{}", hex::encode(hash))))
            .collect();
        text.serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<u64, [u8; 32]>, D::Error> {
        let text = BTreeMap::<u64, String>::deserialize(deserializer)?;
        text.into_iter()
            .map(|(number, hash)| {
                let bytes =
                    hex::decode(hash.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
                let hash = <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| serde::de::Error::custom("a block hash is 32 bytes"))?;
                Ok((number, hash))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_hash_is_a_reorg_at_that_block() {
        let mut checkpoint = Checkpoint::default();
        assert_eq!(checkpoint.observe(10, [1; 32]), None);
        assert_eq!(checkpoint.observe(10, [1; 32]), None);
        assert_eq!(checkpoint.observe(10, [2; 32]), Some(10));
    }

    #[test]
    fn a_head_whose_parent_differs_reveals_a_reorg_below_it() {
        let mut checkpoint = Checkpoint::default();
        checkpoint.observe_head(10, [1; 32], [0; 32]);
        assert_eq!(checkpoint.observe_head(11, [3; 32], [9; 32]), Some(10));
        assert_eq!(checkpoint.observe_head(11, [3; 32], [1; 32]), None);
    }

    #[test]
    fn rewinding_forgets_the_replaced_blocks_and_moves_the_checkpoint_back() {
        let mut checkpoint = Checkpoint::default();
        for number in 1..=5 {
            checkpoint.observe(number, [number as u8; 32]);
        }
        checkpoint.advance_to(6);
        checkpoint.rewind_to(4);
        assert_eq!(checkpoint.next_block, 4);
        assert_eq!(
            checkpoint.hashes.keys().copied().collect::<Vec<_>>(),
            [1, 2, 3]
        );
        checkpoint.advance_to(2);
        assert_eq!(checkpoint.next_block, 4, "never moves backwards");
    }

    #[test]
    fn only_the_most_recent_hashes_are_kept() {
        let mut checkpoint = Checkpoint::default();
        for number in 0..200 {
            checkpoint.observe(number, [0; 32]);
        }
        assert_eq!(checkpoint.hashes.len(), REMEMBERED_BLOCKS);
        assert_eq!(checkpoint.hashes.keys().next(), Some(&136));
    }

    #[test]
    fn a_saved_checkpoint_loads_back_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(&dir.path().join("state"));
        assert!(store.load().unwrap().is_none());
        let mut checkpoint = Checkpoint::default();
        checkpoint.observe(7, [0xab; 32]);
        checkpoint.advance_to(8);
        store.save(&checkpoint).unwrap();
        store.save(&checkpoint).unwrap();
        assert_eq!(store.load().unwrap(), Some(checkpoint));
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        let error = CheckpointStore::new(dir.path()).load().unwrap_err();
        assert!(error.to_string().contains(FILE_NAME), "{error}");
    }
}
