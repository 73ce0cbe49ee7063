//! Turning the bytes of a record's key or value into a typed value, and back.
//!
//! A [`Decoder`] gets the raw bytes (`None` for a null key or value) and returns the value or
//! a reason. Decoding happens in the reader; a record whose key or value does not decode goes
//! to the read's dead-letter output with its coordinates instead of failing the pipeline.
//!
//! An [`Encoder`] is the other way round, for writes: it turns an element into the bytes of
//! a key or value. The same formats serve both: [`Bytes`], [`Utf8`] and [`Json`] decode and
//! encode, and a closure can stand for either.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// Decodes the bytes of a key or value. Any `Fn(Option<&[u8]>) -> Result<T, String>` is one.
pub trait Decoder<T>: Send + Sync + 'static {
    /// Decodes `bytes` (`None`: the record has a null key or value).
    fn decode(&self, bytes: Option<&[u8]>) -> Result<T, String>;
}

impl<T, F> Decoder<T> for F
where
    F: Fn(Option<&[u8]>) -> Result<T, String> + Send + Sync + 'static,
{
    fn decode(&self, bytes: Option<&[u8]>) -> Result<T, String> {
        self(bytes)
    }
}

/// Encodes an element into the bytes of a record's key or value. Any
/// `Fn(&T) -> Vec<u8>` is one.
pub trait Encoder<T>: Send + Sync + 'static {
    /// Encodes `value`, or says why it cannot be (which fails the write naming its topic).
    fn encode(&self, value: &T) -> Result<Vec<u8>, String>;
}

impl<T, F> Encoder<T> for F
where
    F: Fn(&T) -> Vec<u8> + Send + Sync + 'static,
{
    fn encode(&self, value: &T) -> Result<Vec<u8>, String> {
        Ok(self(value))
    }
}

/// The raw bytes (a null is empty).
#[derive(Clone, Copy, Debug, Default)]
pub struct Bytes;

impl Decoder<Vec<u8>> for Bytes {
    fn decode(&self, bytes: Option<&[u8]>) -> Result<Vec<u8>, String> {
        Ok(bytes.unwrap_or_default().to_vec())
    }
}

impl Encoder<Vec<u8>> for Bytes {
    fn encode(&self, value: &Vec<u8>) -> Result<Vec<u8>, String> {
        Ok(value.clone())
    }
}

/// UTF-8 text; invalid UTF-8 or a null is an error.
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8;

impl Encoder<String> for Utf8 {
    fn encode(&self, value: &String) -> Result<Vec<u8>, String> {
        Ok(value.as_bytes().to_vec())
    }
}

impl Decoder<String> for Utf8 {
    fn decode(&self, bytes: Option<&[u8]>) -> Result<String, String> {
        let bytes = bytes.ok_or("null where UTF-8 text was expected")?;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|e| format!("invalid UTF-8: {e}"))
    }
}

/// A JSON document, decoded with serde into a `T` or encoded from one.
pub struct Json<T>(PhantomData<fn() -> T>);

impl<T> Json<T> {
    /// A JSON decoder or encoder for `T`.
    pub fn new() -> Self {
        Json(PhantomData)
    }
}

impl<T> Default for Json<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: DeserializeOwned + 'static> Decoder<T> for Json<T> {
    fn decode(&self, bytes: Option<&[u8]>) -> Result<T, String> {
        let bytes = bytes.ok_or("null where a JSON document was expected")?;
        serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))
    }
}

impl<T: Serialize + 'static> Encoder<T> for Json<T> {
    fn encode(&self, value: &T) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| format!("cannot encode as JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders_return_values_or_reasons() {
        assert_eq!(Bytes.decode(None).unwrap(), Vec::<u8>::new());
        assert_eq!(Utf8.decode(Some(b"hi")).unwrap(), "hi");
        assert!(
            Utf8.decode(Some(&[0xff]))
                .unwrap_err()
                .contains("invalid UTF-8")
        );
        assert!(Utf8.decode(None).unwrap_err().contains("null"));
        let json = Json::<Vec<i32>>::new();
        assert_eq!(json.decode(Some(b"[1,2]")).unwrap(), vec![1, 2]);
        assert!(
            json.decode(Some(b"{"))
                .unwrap_err()
                .contains("invalid JSON")
        );
        let custom = |b: Option<&[u8]>| b.map(<[u8]>::len).ok_or("null".to_string());
        assert_eq!(custom.decode(Some(b"abc")).unwrap(), 3);
    }

    #[test]
    fn encoders_return_bytes_or_reasons() {
        assert_eq!(Bytes.encode(&vec![1, 2]).unwrap(), vec![1, 2]);
        assert_eq!(Utf8.encode(&"hé".to_string()).unwrap(), "hé".as_bytes());
        let json = Json::<std::collections::BTreeMap<String, i32>>::new();
        let value = [("a".to_string(), 1)].into_iter().collect();
        assert_eq!(json.encode(&value).unwrap(), br#"{"a":1}"#);
        // JSON object keys must be strings: a map keyed by pairs cannot be written.
        let pairs = Json::<std::collections::BTreeMap<(i32, i32), i32>>::new();
        let bad = [((1, 2), 3)].into_iter().collect();
        assert!(
            pairs
                .encode(&bad)
                .unwrap_err()
                .contains("cannot encode as JSON")
        );
        let custom = |v: &u32| v.to_be_bytes().to_vec();
        assert_eq!(custom.encode(&7).unwrap(), vec![0, 0, 0, 7]);
    }
}
