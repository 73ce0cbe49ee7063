//! One map per window, for groupings that fold many keys of few windows.
//!
//! Most bundles hold elements of one window, so a grouping keeps a map per window, keyed by
//! the key alone — smaller entries and cheaper hashing than a map keyed by (key, window) —
//! and remembers the window it used last, so that a run of elements of one window finds its
//! map without a lookup.

use crate::window::Window;
use rustc_hash::FxHashMap;

/// A `M` per window, created empty on first use.
pub(crate) struct PerWindow<M> {
    windows: Vec<(Window, M)>,
    index: FxHashMap<Window, usize>,
    last: usize,
}

impl<M: Default> PerWindow<M> {
    /// Nothing for any window yet.
    pub(crate) fn new() -> Self {
        PerWindow {
            windows: Vec::new(),
            index: FxHashMap::default(),
            last: 0,
        }
    }

    /// The map of `window`, created empty if it has none.
    pub(crate) fn get_mut(&mut self, window: Window) -> &mut M {
        if self
            .windows
            .get(self.last)
            .is_none_or(|(w, _)| *w != window)
        {
            let next = self.windows.len();
            let i = *self.index.entry(window).or_insert(next);
            if i == next {
                self.windows.push((window, M::default()));
            }
            self.last = i;
        }
        &mut self.windows[self.last].1
    }

    /// Takes out every window's map, leaving nothing behind.
    pub(crate) fn take(&mut self) -> Vec<(Window, M)> {
        self.index.clear();
        self.last = 0;
        std::mem::take(&mut self.windows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn each_window_has_its_own_map_in_order_of_first_use() {
        let w = |s| Window::interval(Timestamp::from_secs(s), Timestamp::from_secs(s + 10));
        let mut per = PerWindow::<Vec<i32>>::new();
        per.get_mut(w(10)).push(1);
        per.get_mut(w(0)).push(2);
        per.get_mut(w(10)).push(3);
        per.get_mut(Window::Global).push(4);
        assert_eq!(
            per.take(),
            vec![
                (w(10), vec![1, 3]),
                (w(0), vec![2]),
                (Window::Global, vec![4])
            ]
        );
        assert!(per.take().is_empty());
        per.get_mut(w(0)).push(5);
        assert_eq!(per.take(), vec![(w(0), vec![5])]);
    }
}
