//! A first-in first-out queue of aggregates that tells the merge of everything in it.
//!
//! A sliding window's result is the merge of its slices; the next window drops the oldest
//! slices and adds newer ones. Merging every window's slices anew costs `size / slice` merges
//! per window. The *two-stacks* queue (as in Tangwongsan, Hirzel and Schneider's sliding-window
//! aggregation) costs a constant number of merges per slice and per window instead, for any
//! associative merge, without an inverse:
//!
//! - new items go on the **back** stack, whose merge is kept as they come;
//! - the **front** stack holds older items, each with the merge of itself and every newer
//!   item of the front, so its top holds the merge of the whole front;
//! - the merge of the queue is the front's top merged with the back's; popping the oldest item
//!   takes the front's top, and when the front is empty the back is moved onto it first,
//!   merging as it goes (each item moves once).

/// The queue; items are tagged (with their slice's start) so that a caller can tell which is
/// oldest.
pub(crate) struct TwoStacks<A> {
    /// Older items, oldest on top, each with the merge of itself and the newer front items.
    front: Vec<(i128, A)>,
    /// Newer items, in the order they came.
    back: Vec<(i128, A)>,
    /// The merge of `back`.
    back_merged: Option<A>,
}

impl<A: Clone> TwoStacks<A> {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        TwoStacks {
            front: Vec::new(),
            back: Vec::new(),
            back_merged: None,
        }
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.front.is_empty() && self.back.is_empty()
    }

    /// The tag of the oldest item.
    pub(crate) fn oldest(&self) -> Option<i128> {
        match self.front.last() {
            Some((tag, _)) => Some(*tag),
            None => self.back.first().map(|(tag, _)| *tag),
        }
    }

    /// Queues `item`, the newest.
    pub(crate) fn push(&mut self, tag: i128, item: A, merge: &impl Fn(&mut A, A)) {
        match &mut self.back_merged {
            Some(merged) => merge(merged, item.clone()),
            None => self.back_merged = Some(item.clone()),
        }
        self.back.push((tag, item));
    }

    /// Drops the oldest item.
    pub(crate) fn pop(&mut self, merge: &impl Fn(&mut A, A)) {
        if self.front.is_empty() {
            let mut newer: Option<A> = None;
            while let Some((tag, mut item)) = self.back.pop() {
                if let Some(newer) = newer.take() {
                    merge(&mut item, newer);
                }
                newer = Some(item.clone());
                self.front.push((tag, item));
            }
            self.back_merged = None;
        }
        self.front.pop();
    }

    /// The merge of every queued item, oldest first; `None` when empty.
    pub(crate) fn merged(&self, merge: &impl Fn(&mut A, A)) -> Option<A> {
        match (self.front.last(), &self.back_merged) {
            (Some((_, front)), Some(back)) => {
                let mut all = front.clone();
                merge(&mut all, back.clone());
                Some(all)
            }
            (Some((_, front)), None) => Some(front.clone()),
            (None, back) => back.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Concatenation: associative, not commutative, so the order of merges shows.
    fn concat(a: &mut Vec<u32>, b: Vec<u32>) {
        a.extend(b);
    }

    proptest! {
        /// After any sequence of pushes and pops, the merge is the queue's items in order.
        #[test]
        fn the_merge_is_every_queued_item_in_order(ops in proptest::collection::vec(any::<bool>(), 0..200)) {
            let mut queue = TwoStacks::new();
            let mut model: std::collections::VecDeque<u32> = Default::default();
            for (i, push) in ops.into_iter().enumerate() {
                if push || model.is_empty() {
                    queue.push(i as i128, vec![i as u32], &concat);
                    model.push_back(i as u32);
                } else {
                    queue.pop(&concat);
                    model.pop_front();
                }
                let expected: Vec<u32> = model.iter().copied().collect();
                prop_assert_eq!(queue.merged(&concat).unwrap_or_default(), expected);
                prop_assert_eq!(queue.oldest(), model.front().map(|&v| v as i128));
                prop_assert_eq!(queue.is_empty(), model.is_empty());
            }
        }
    }
}
