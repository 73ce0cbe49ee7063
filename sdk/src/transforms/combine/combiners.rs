//! Built-in combine functions: sum, count, min, max, mean, top-n and to-list.

use super::CombineFn;
use crate::element::Element;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use std::ops::Add;

/// Sums numbers. The sum of nothing is `T::default()` (zero).
pub struct Sum<T>(PhantomData<fn(T)>);
impl<T> Sum<T> {
    /// A sum of `T`s.
    pub fn new() -> Self {
        Sum(PhantomData)
    }
}
impl<T> Default for Sum<T> {
    fn default() -> Self {
        Self::new()
    }
}
impl<T> Clone for Sum<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}
impl<T: Element + Default + Add<Output = T> + Copy> CombineFn for Sum<T> {
    type Input = T;
    type Accumulator = T;
    type Output = T;
    fn create_accumulator(&self) -> T {
        T::default()
    }
    fn add_input(&self, acc: &mut T, input: T) {
        *acc = *acc + input;
    }
    fn merge_accumulators(&self, acc: &mut T, other: T) {
        *acc = *acc + other;
    }
    fn extract_output(&self, acc: &T) -> T {
        *acc
    }
}

/// Counts elements.
pub struct CountFn<T>(PhantomData<fn(T)>);
impl<T> CountFn<T> {
    /// A count of `T`s.
    pub fn new() -> Self {
        CountFn(PhantomData)
    }
}
impl<T> Default for CountFn<T> {
    fn default() -> Self {
        Self::new()
    }
}
impl<T> Clone for CountFn<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}
impl<T: Element> CombineFn for CountFn<T> {
    type Input = T;
    type Accumulator = u64;
    type Output = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add_input(&self, acc: &mut u64, _input: T) {
        *acc += 1;
    }
    fn merge_accumulators(&self, acc: &mut u64, other: u64) {
        *acc += other;
    }
    fn extract_output(&self, acc: &u64) -> u64 {
        *acc
    }
}

/// The smallest element; `None` for no elements.
pub struct Min<T>(PhantomData<fn(T)>);
/// The largest element; `None` for no elements.
pub struct Max<T>(PhantomData<fn(T)>);

macro_rules! extreme {
    ($name:ident, $keep_new:expr, $doc:literal) => {
        impl<T> $name<T> {
            #[doc = $doc]
            pub fn new() -> Self {
                $name(PhantomData)
            }
        }
        impl<T> Default for $name<T> {
            fn default() -> Self {
                Self::new()
            }
        }
        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                Self::new()
            }
        }
        impl<T: Element + Ord> CombineFn for $name<T> {
            type Input = T;
            type Accumulator = Option<T>;
            type Output = Option<T>;
            fn create_accumulator(&self) -> Option<T> {
                None
            }
            fn add_input(&self, acc: &mut Option<T>, input: T) {
                let keep_new: fn(&T, &T) -> bool = $keep_new;
                match acc {
                    Some(current) if !keep_new(&input, current) => {}
                    _ => *acc = Some(input),
                }
            }
            fn merge_accumulators(&self, acc: &mut Option<T>, other: Option<T>) {
                if let Some(o) = other {
                    self.add_input(acc, o);
                }
            }
            fn extract_output(&self, acc: &Option<T>) -> Option<T> {
                acc.clone()
            }
        }
    };
}
extreme!(Min, |new, cur| new < cur, "The minimum of `T`s.");
extreme!(Max, |new, cur| new > cur, "The maximum of `T`s.");

/// Numbers that [`Mean`] can average.
pub trait ToF64: Element + Copy {
    /// The value as an `f64`.
    fn to_f64(self) -> f64;
}
macro_rules! to_f64 {
    ($($t:ty),*) => {$(impl ToF64 for $t { fn to_f64(self) -> f64 { self as f64 } })*};
}
to_f64!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, f32, f64);

/// The running sum and count of [`Mean`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanAccumulator {
    /// Sum of the inputs.
    pub sum: f64,
    /// Number of inputs.
    pub count: u64,
}

/// The arithmetic mean; NaN for no elements (as in Beam).
pub struct Mean<T>(PhantomData<fn(T)>);
impl<T> Mean<T> {
    /// A mean of `T`s.
    pub fn new() -> Self {
        Mean(PhantomData)
    }
}
impl<T> Default for Mean<T> {
    fn default() -> Self {
        Self::new()
    }
}
impl<T> Clone for Mean<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}
impl<T: ToF64> CombineFn for Mean<T> {
    type Input = T;
    type Accumulator = MeanAccumulator;
    type Output = f64;
    fn create_accumulator(&self) -> MeanAccumulator {
        MeanAccumulator::default()
    }
    fn add_input(&self, acc: &mut MeanAccumulator, input: T) {
        acc.sum += input.to_f64();
        acc.count += 1;
    }
    fn merge_accumulators(&self, acc: &mut MeanAccumulator, other: MeanAccumulator) {
        acc.sum += other.sum;
        acc.count += other.count;
    }
    fn extract_output(&self, acc: &MeanAccumulator) -> f64 {
        if acc.count == 0 {
            f64::NAN
        } else {
            acc.sum / acc.count as f64
        }
    }
}

/// The `n` largest (or smallest) elements, best first.
pub struct Top<T> {
    n: usize,
    largest: bool,
    _t: PhantomData<fn(T)>,
}
impl<T> Clone for Top<T> {
    fn clone(&self) -> Self {
        Top {
            n: self.n,
            largest: self.largest,
            _t: PhantomData,
        }
    }
}
impl<T: Element + Ord> Top<T> {
    /// The `n` largest, largest first.
    pub fn largest(n: usize) -> Self {
        Top {
            n,
            largest: true,
            _t: PhantomData,
        }
    }
    /// The `n` smallest, smallest first.
    pub fn smallest(n: usize) -> Self {
        Top {
            n,
            largest: false,
            _t: PhantomData,
        }
    }
    fn trim(&self, acc: &mut Vec<T>) {
        if self.largest {
            acc.sort_by(|a, b| b.cmp(a));
        } else {
            acc.sort();
        }
        acc.truncate(self.n);
    }
}
impl<T: Element + Ord> CombineFn for Top<T> {
    type Input = T;
    type Accumulator = Vec<T>;
    type Output = Vec<T>;
    fn create_accumulator(&self) -> Vec<T> {
        Vec::new()
    }
    fn add_input(&self, acc: &mut Vec<T>, input: T) {
        acc.push(input);
        if acc.len() >= 2 * self.n.max(8) {
            self.trim(acc);
        }
    }
    fn merge_accumulators(&self, acc: &mut Vec<T>, other: Vec<T>) {
        acc.extend(other);
        self.trim(acc);
    }
    fn extract_output(&self, acc: &Vec<T>) -> Vec<T> {
        let mut out = acc.clone();
        self.trim(&mut out);
        out
    }
}

/// All elements as a list (in no particular order).
pub struct ToList<T>(PhantomData<fn(T)>);
impl<T> ToList<T> {
    /// A list of `T`s.
    pub fn new() -> Self {
        ToList(PhantomData)
    }
}
impl<T> Default for ToList<T> {
    fn default() -> Self {
        Self::new()
    }
}
impl<T> Clone for ToList<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}
impl<T: Element> CombineFn for ToList<T> {
    type Input = T;
    type Accumulator = Vec<T>;
    type Output = Vec<T>;
    fn create_accumulator(&self) -> Vec<T> {
        Vec::new()
    }
    fn add_input(&self, acc: &mut Vec<T>, input: T) {
        acc.push(input);
    }
    fn merge_accumulators(&self, acc: &mut Vec<T>, other: Vec<T>) {
        acc.extend(other);
    }
    fn extract_output(&self, acc: &Vec<T>) -> Vec<T> {
        acc.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: CombineFn>(f: &F, parts: Vec<Vec<F::Input>>) -> F::Output {
        let mut accs = parts.into_iter().map(|part| {
            let mut acc = f.create_accumulator();
            part.into_iter().for_each(|x| f.add_input(&mut acc, x));
            acc
        });
        let mut acc = accs.next().unwrap_or_else(|| f.create_accumulator());
        accs.for_each(|o| f.merge_accumulators(&mut acc, o));
        f.extract_output(&acc)
    }

    #[test]
    fn built_ins_merge_partials_correctly() {
        assert_eq!(run(&Sum::<i64>::new(), vec![vec![1, 2], vec![3]]), 6);
        assert_eq!(
            run(&CountFn::<u8>::new(), vec![vec![1, 2], vec![], vec![3]]),
            3
        );
        assert_eq!(run(&Min::<i32>::new(), vec![vec![5, 2], vec![3]]), Some(2));
        assert_eq!(run(&Max::<i32>::new(), vec![vec![5, 2], vec![9]]), Some(9));
        assert_eq!(run(&Max::<i32>::new(), vec![]), None);
        assert_eq!(run(&Mean::<i32>::new(), vec![vec![1, 2], vec![6]]), 3.0);
        assert!(run(&Mean::<i32>::new(), vec![]).is_nan());
        let many: Vec<i32> = (0..100).collect();
        assert_eq!(
            run(&Top::largest(3), vec![many.clone(), vec![500]]),
            vec![500, 99, 98]
        );
        assert_eq!(run(&Top::smallest(2), vec![many, vec![-1]]), vec![-1, 0]);
        let mut l = run(&ToList::<u8>::new(), vec![vec![2], vec![1]]);
        l.sort();
        assert_eq!(l, vec![1, 2]);
    }
}
