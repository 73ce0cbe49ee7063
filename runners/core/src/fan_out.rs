//! Handing one output to several readers: every reader but the last gets a copy, the last
//! one the original, so that the common case of a single reader copies nothing.

/// `value` for each of `readers` readers, in order: clones for all but the last, which takes
/// `value` itself. Nothing when there are no readers.
///
/// ```
/// use sluice_runner_core::fan_out;
/// let copies: Vec<String> = fan_out("bundle".to_string(), 3).collect();
/// assert_eq!(copies, ["bundle", "bundle", "bundle"]);
/// assert_eq!(fan_out(1, 0).count(), 0);
/// ```
pub fn fan_out<T: Clone>(value: T, readers: usize) -> impl Iterator<Item = T> {
    let mut value = Some(value);
    (0..readers).map(move |i| {
        if i + 1 == readers {
            value.take().expect("the last reader takes the value")
        } else {
            value
                .clone()
                .expect("the value is kept until the last reader")
        }
    })
}
