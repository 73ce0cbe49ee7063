//! The assertion transforms.

use super::SUCCESS_COUNTER;
use crate::dofn::{DoFn, DoFnResult, ProcessContext};
use crate::element::{Element, encode};
use crate::pane::{PaneInfo, PaneTiming};
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;
use crate::time::Timestamp;
use crate::transforms::{
    Combine, Flatten, Impulse, MapWithContext, PCollectionList, ParDo, ToList, WindowInto,
};
use crate::window::{GlobalWindows, Window};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::sync::Arc;

type Checker<T> = Arc<dyn Fn(Vec<T>) -> Result<(), String> + Send + Sync>;

/// Which elements an assertion looks at.
#[derive(Clone, Copy, Debug)]
enum Scope {
    All,
    Window(Window),
    OnTimePane(Window),
    FinalPane(Window),
}

impl Scope {
    fn admits(&self, window: &Window, pane: &PaneInfo) -> bool {
        match self {
            Scope::All => true,
            Scope::Window(w) => w == window,
            Scope::OnTimePane(w) => w == window && pane.timing == PaneTiming::OnTime,
            Scope::FinalPane(w) => w == window && pane.is_last,
        }
    }
}

/// An element with the metadata it had where the assertion was applied.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Reified<T> {
    value: T,
    window: Window,
    pane: PaneInfo,
    timestamp: Timestamp,
}

/// Assertions about the elements of a PCollection; made by [`assert_that`].
pub struct Assertion<T> {
    input: PCollection<T>,
    scope: Scope,
}

/// Starts an assertion about all elements of `input`.
pub fn assert_that<T: Element + Debug>(input: &PCollection<T>) -> Assertion<T> {
    Assertion {
        input: input.clone(),
        scope: Scope::All,
    }
}

/// Starts an assertion about the single element of `input`.
pub fn assert_that_singleton<T: Element + Debug>(input: &PCollection<T>) -> SingletonAssertion<T> {
    SingletonAssertion(assert_that(input))
}

impl<T: Element + Debug> Assertion<T> {
    /// Looks only at the elements in `window`.
    pub fn in_window(self, window: Window) -> Self {
        Assertion {
            scope: Scope::Window(window),
            ..self
        }
    }
    /// Looks only at the elements of the on-time pane of `window`.
    pub fn in_on_time_pane(self, window: Window) -> Self {
        Assertion {
            scope: Scope::OnTimePane(window),
            ..self
        }
    }
    /// Looks only at the elements of the final pane of `window`.
    pub fn in_final_pane(self, window: Window) -> Self {
        Assertion {
            scope: Scope::FinalPane(window),
            ..self
        }
    }
    /// The elements are exactly `expected`, in any order (duplicates count).
    pub fn contains_in_any_order(self, expected: Vec<T>) {
        self.check(Arc::new(move |actual| {
            compare_multisets(actual, expected.clone())
        }));
    }
    /// There are no elements.
    pub fn empty(self) {
        self.contains_in_any_order(Vec::new());
    }
    /// The elements satisfy `f`, which returns a message explaining a failure.
    pub fn satisfies(self, f: impl Fn(&[T]) -> Result<(), String> + Send + Sync + 'static) {
        self.check(Arc::new(move |actual| f(&actual)));
    }
    fn check(self, checker: Checker<T>) {
        let p = self.input.pipeline().clone();
        p.register_assertion();
        let name = p.unique_name("PAssert");
        self.input.apply(
            &name,
            AssertTransform {
                scope: self.scope,
                checker,
            },
        );
    }
}

/// Assertions about a PCollection that should hold exactly one element.
pub struct SingletonAssertion<T>(Assertion<T>);

impl<T: Element + Debug> SingletonAssertion<T> {
    /// Looks only at the elements in `window`.
    pub fn in_window(self, window: Window) -> Self {
        SingletonAssertion(self.0.in_window(window))
    }
    /// The single element equals `expected`.
    pub fn equal_to(self, expected: T) {
        self.0
            .check(Arc::new(move |actual| match actual.as_slice() {
                [only] if same_encoding(only, &expected) => Ok(()),
                [only] => Err(format!(
                    "expected the single element {expected:?}, got {only:?}"
                )),
                many => Err(format!(
                    "expected the single element {expected:?}, got {} elements: {}",
                    many.len(),
                    preview(many)
                )),
            }));
    }
    /// The single element satisfies `f`.
    pub fn satisfies(self, f: impl Fn(&T) -> Result<(), String> + Send + Sync + 'static) {
        self.0
            .check(Arc::new(move |actual| match actual.as_slice() {
                [only] => f(only),
                many => Err(format!(
                    "expected a single element, got {}: {}",
                    many.len(),
                    preview(many)
                )),
            }));
    }
}

struct AssertTransform<T> {
    scope: Scope,
    checker: Checker<T>,
}

impl<T: Element + Debug> PTransform<PCollection<T>> for AssertTransform<T> {
    type Output = ();
    fn expand(self, input: &PCollection<T>) {
        let scope = self.scope;
        let reified = input
            .apply(
                "Reify",
                MapWithContext::new(|value: T, meta: &crate::transforms::ElementMeta| Reified {
                    value,
                    window: meta.window,
                    pane: meta.pane,
                    timestamp: meta.timestamp,
                }),
            )
            .filter("Select", move |r: &Reified<T>| {
                scope.admits(&r.window, &r.pane)
            })
            .map("Value", |r: Reified<T>| Some(r.value))
            .apply("GlobalWindow", WindowInto::with_defaults(GlobalWindows));
        // One marker element joins the values, so that the check runs even when there are
        // none (without relying on Combine.globally's default, which needs a side input).
        let marker = input
            .pipeline()
            .apply("Marker", Impulse)
            .map("AsMarker", |_: Vec<u8>| None::<T>);
        PCollectionList::of(vec![reified, marker])
            .apply("WithMarker", Flatten)
            .apply(
                "Gather",
                Combine::globally(ToList::<Option<T>>::new()).without_defaults(),
            )
            .apply(
                "Check",
                ParDo::of(CheckFn {
                    checker: self.checker,
                }),
            );
    }
}

#[derive(Clone)]
struct CheckFn<T> {
    checker: Checker<T>,
}

impl<T: Element + Debug> DoFn for CheckFn<T> {
    type In = Vec<Option<T>>;
    type Out = ();
    fn process(
        &mut self,
        gathered: Vec<Option<T>>,
        ctx: &mut ProcessContext<'_, ()>,
    ) -> DoFnResult {
        let actual = gathered.into_iter().flatten().collect();
        (self.checker)(actual).map_err(|m| format!("assertion failed: {m}"))?;
        ctx.metrics().counter(SUCCESS_COUNTER).inc();
        Ok(())
    }
}

fn same_encoding<T: Element>(a: &T, b: &T) -> bool {
    matches!((encode(a), encode(b)), (Ok(x), Ok(y)) if x == y)
}

fn preview<T: Debug>(values: &[T]) -> String {
    const SHOW: usize = 20;
    let shown: Vec<String> = values.iter().take(SHOW).map(|v| format!("{v:?}")).collect();
    if values.len() > SHOW {
        format!("[{}, ... ({} more)]", shown.join(", "), values.len() - SHOW)
    } else {
        format!("[{}]", shown.join(", "))
    }
}

/// Compares two multisets by the encoding of their elements.
fn compare_multisets<T: Element + Debug>(actual: Vec<T>, expected: Vec<T>) -> Result<(), String> {
    let keyed = |vs: Vec<T>| -> Result<Vec<(Vec<u8>, T)>, String> {
        let mut out = vs
            .into_iter()
            .map(|v| encode(&v).map(|b| (b, v)).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    };
    let (a, e) = (keyed(actual)?, keyed(expected)?);
    let (a_len, e_len) = (a.len(), e.len());
    let (mut missing, mut unexpected) = (Vec::new(), Vec::new());
    let (mut ai, mut ei) = (a.into_iter().peekable(), e.into_iter().peekable());
    loop {
        match (ai.peek(), ei.peek()) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                ai.next();
                ei.next();
            }
            (Some(x), Some(y)) if x.0 < y.0 => unexpected.extend(ai.next().map(|p| p.1)),
            (Some(_), Some(_)) | (None, Some(_)) => missing.extend(ei.next().map(|p| p.1)),
            (Some(_), None) => unexpected.extend(ai.next().map(|p| p.1)),
            (None, None) => break,
        }
    }
    if missing.is_empty() && unexpected.is_empty() {
        return Ok(());
    }
    Err(format!(
        "expected {e_len} elements in any order, got {a_len}; missing: {}; unexpected: {}",
        preview(&missing),
        preview(&unexpected)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiset_comparison_counts_duplicates_and_explains() {
        assert!(compare_multisets(vec![1, 2, 2], vec![2, 1, 2]).is_ok());
        let err = compare_multisets(vec![1, 2, 2], vec![1, 2, 3]).unwrap_err();
        assert_eq!(
            err,
            "expected 3 elements in any order, got 3; missing: [3]; unexpected: [2]"
        );
    }
}
