//! What may flow through a pipeline: [`Element`], [`Key`] and their coder.
//!
//! Every element can cross a shuffle, a state store or a process boundary, so it must be
//! serializable: serde describes it and bincode is the wire format. Keys of grouping transforms
//! are grouped by their *encoded bytes* (as in Beam, where a key's coder must be deterministic),
//! and partitioned by a hash of those bytes with a fixed seed, so every worker agrees.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::hash::Hasher;

/// A type that can flow through a pipeline. Implemented for every type that qualifies.
pub trait Element: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static> Element for T {}

/// A type that can be the key of a grouping transform. Implemented for every type that qualifies.
///
/// Grouping compares encoded keys, so two keys are the same key when they encode to the same
/// bytes. Avoid floating-point keys (`-0.0` and `0.0` encode differently) and hash maps (their
/// encoding depends on iteration order).
pub trait Key: Element + Eq + std::hash::Hash {}
impl<T: Element + Eq + std::hash::Hash> Key for T {}

/// An element could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("coder error: {0}")]
pub struct CoderError(pub String);

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value with the pipeline's coder.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CoderError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| CoderError(e.to_string()))
}

/// How many bytes `value` encodes to (counted, not kept).
pub fn encoded_len<T: Serialize>(value: &T) -> Result<u64, CoderError> {
    /// A writer that only counts.
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    bincode::serde::encode_into_std_write(value, &mut count, config())
        .map_err(|e| CoderError(e.to_string()))?;
    Ok(count.0)
}

/// Encoded bytes, kept inline when they are short: the key or value of a keyed record, most
/// often a few bytes, then needs no allocation of its own.
pub type EncodedBytes = smallvec::SmallVec<[u8; 16]>;

/// Encodes a value with the pipeline's coder into [`EncodedBytes`]. A value that fits the
/// inline buffer is encoded straight into it (the common case: a key, a count); a longer one
/// is encoded again into a growing buffer.
pub fn encode_inline<T: Serialize>(value: &T) -> Result<EncodedBytes, CoderError> {
    let mut inline = [0u8; 16];
    if let Ok(len) = bincode::serde::encode_into_slice(value, &mut inline, config()) {
        return Ok(EncodedBytes::from_buf_and_len(inline, len));
    }
    let mut out = EncodedBytes::new();
    bincode::serde::encode_into_std_write(value, &mut out, config())
        .map_err(|e| CoderError(e.to_string()))?;
    Ok(out)
}

/// Decodes a value encoded by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CoderError> {
    bincode::serde::decode_from_slice(bytes, config())
        .map(|(v, _)| v)
        .map_err(|e| CoderError(e.to_string()))
}

/// A key in its encoded form, with the fixed-seed hash that decides its partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EncodedKey {
    hash: u64,
    bytes: EncodedBytes,
}

impl EncodedKey {
    /// Encodes `key`.
    pub fn of<K: Serialize>(key: &K) -> Result<Self, CoderError> {
        Ok(Self::from_encoded(encode_inline(key)?))
    }
    /// Wraps already encoded key bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self::from_encoded(EncodedBytes::from_vec(bytes))
    }
    /// Copies already encoded key bytes.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::from_encoded(EncodedBytes::from_slice(bytes))
    }
    fn from_encoded(bytes: EncodedBytes) -> Self {
        EncodedKey {
            hash: stable_hash(&bytes),
            bytes,
        }
    }
    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The fixed-seed hash of the bytes.
    pub fn hash(&self) -> u64 {
        self.hash
    }
    /// The partition of `partitions` this key belongs to.
    pub fn partition(&self, partitions: usize) -> usize {
        (self.hash % partitions.max(1) as u64) as usize
    }
    /// Decodes the key.
    pub fn decode<K: DeserializeOwned>(&self) -> Result<K, CoderError> {
        decode(&self.bytes)
    }
}

impl std::hash::Hash for EncodedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A hash of bytes that is the same in every process and on every run (FxHash, no random seed).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(bytes);
    h.write_usize(bytes.len());
    // Fx's low bits mix poorly for short inputs; a final avalanche step spreads them.
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_encoding_is_the_encoding_short_or_long() {
        let short = encode_inline(&(7u64, "ab")).unwrap();
        assert!(!short.spilled(), "a short value stays inline");
        assert_eq!(short.as_slice(), encode(&(7u64, "ab")).unwrap());
        let long = "x".repeat(100);
        assert_eq!(
            encode_inline(&long).unwrap().as_slice(),
            encode(&long).unwrap()
        );
        let exactly = "y".repeat(15); // a length byte and 15 bytes: the inline buffer, full
        assert_eq!(
            encode_inline(&exactly).unwrap().as_slice(),
            encode(&exactly).unwrap()
        );
    }

    #[test]
    fn round_trips_and_groups_by_bytes() {
        let k = EncodedKey::of(&("a".to_string(), 3u32)).unwrap();
        assert_eq!(k.decode::<(String, u32)>().unwrap(), ("a".to_string(), 3));
        assert_eq!(k, EncodedKey::of(&("a".to_string(), 3u32)).unwrap());
        assert!(k.partition(4) < 4);
        assert!(decode::<String>(&[0xff, 0xff]).is_err());
    }
}
