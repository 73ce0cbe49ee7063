//! Small helpers shared by the benchmark binaries.

/// The median of some measurements (the upper one of the middle two for an even count).
///
/// # Panics
/// If `values` is empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}
