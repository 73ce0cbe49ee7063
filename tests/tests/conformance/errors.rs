//! Pipelines that must fail, with an error that names what failed.

use sluice_sdk::prelude::*;
use sluice_sdk::testing::assert_that;
use sluice_tests::{Case, s, secs};

pub fn cases() -> Vec<Case> {
    vec![
        Case::fail(
            "error_dofn_panic_names_transform",
            dofn_panic,
            "transform 'Stage/Explode' panicked: bad element 3",
        ),
        Case::fail(
            "error_dofn_error_names_transform",
            dofn_error,
            "transform 'Parse' failed: invalid digit",
        ),
        Case::fail(
            "error_co_group_by_key_unknown_tag_names_it",
            cogbk_unknown_tag,
            "transform 'Read' panicked: tag 'stranger' is not an input of this CoGroupByKey (its inputs: a)",
        ),
        Case::fail(
            "error_duplicate_transform_name",
            duplicate_name,
            "duplicate transform name 'Twice'",
        ),
        Case::fail(
            "error_output_timestamp_before_input",
            early_output,
            "before the input element's timestamp",
        ),
        Case::fail(
            "error_with_timestamps_moving_back",
            timestamps_back,
            "before the element's timestamp",
        ),
        Case::fail(
            "error_partition_index_out_of_range",
            partition_out_of_range,
            "partition function returned 5, but there are 2 partitions",
        ),
        Case::fail(
            "error_singleton_view_with_several_elements",
            singleton_many,
            "a singleton view holds 2 elements",
        ),
        Case::fail(
            "error_flatten_of_different_windowings",
            flatten_mismatch,
            "Flatten inputs must have the same window function",
        ),
        Case::fail(
            "error_combine_globally_default_off_global_window",
            combine_default,
            "use .without_defaults()",
        ),
        Case::fail(
            "error_failed_assertion_shows_expected_and_actual",
            failed_assertion,
            "missing: [4]; unexpected: [3]",
        ),
        Case::fail(
            "error_window_fn_assigning_too_many_windows_names_the_transform",
            too_many_windows,
            "transform 'Everywhere' failed: OneTooMany assigned 100001 windows to the element at",
        ),
        Case::fail(
            "error_combine_fn_panic_names_transform",
            combine_panic,
            "transform 'Total' panicked",
        ),
    ]
}

/// A composite, so that the failing transform has a nested name.
struct Stage;
impl PTransform<PCollection<u32>> for Stage {
    type Output = PCollection<u32>;
    fn expand(self, input: &PCollection<u32>) -> PCollection<u32> {
        input.map("Explode", |v: u32| {
            if v == 3 { panic!("bad element {v}") } else { v }
        })
    }
}

fn dofn_panic(p: &Pipeline) {
    let out = p
        .apply("Create", Create::of(0..10u32))
        .apply("Stage", Stage);
    assert_that(&out).contains_in_any_order((0..10).collect());
}

#[derive(Clone)]
struct Parse;
impl DoFn for Parse {
    type In = String;
    type Out = i64;
    fn process(&mut self, v: String, ctx: &mut ProcessContext<'_, i64>) -> DoFnResult {
        ctx.output(v.parse::<i64>()?);
        Ok(())
    }
}

fn dofn_error(p: &Pipeline) {
    p.apply("Create", Create::of(vec![s("1"), s("x")]))
        .apply("Parse", ParDo::of(Parse));
}

fn duplicate_name(p: &Pipeline) {
    let c = p.apply("Create", Create::of(vec![1u32]));
    c.map("Twice", |x: u32| x * 2);
    c.map("Twice", |x: u32| x * 2);
}

#[derive(Clone)]
struct Rewind;
impl DoFn for Rewind {
    type In = u32;
    type Out = u32;
    fn process(&mut self, v: u32, ctx: &mut ProcessContext<'_, u32>) -> DoFnResult {
        let earlier = ctx.timestamp() - Duration::from_secs(1);
        ctx.output_with_timestamp(v, earlier)
    }
}

fn early_output(p: &Pipeline) {
    p.apply("Create", Create::timestamped(vec![(1u32, secs(10))]))
        .apply("Rewind", ParDo::of(Rewind));
}

fn timestamps_back(p: &Pipeline) {
    p.apply("Create", Create::timestamped(vec![(1u32, secs(10))]))
        .apply("Back", WithTimestamps::of(|_: &u32| secs(5)));
}

fn partition_out_of_range(p: &Pipeline) {
    p.apply("Create", Create::of(vec![1u32]))
        .apply("Split", Partition::of(2, |_: &u32, _| 5));
}

#[derive(Clone)]
struct ReadSide(PCollectionView<u32>);
impl DoFn for ReadSide {
    type In = u32;
    type Out = u32;
    fn process(&mut self, v: u32, ctx: &mut ProcessContext<'_, u32>) -> DoFnResult {
        ctx.output(v + ctx.side_input(&self.0)?);
        Ok(())
    }
}

fn singleton_many(p: &Pipeline) {
    let view = p
        .apply("Two", Create::of(vec![1u32, 2]))
        .apply("View", View::singleton());
    p.apply("Main", Create::of(vec![1u32])).apply(
        "Read",
        ParDo::of(ReadSide(view.clone())).with_side_input(&view),
    );
}

fn flatten_mismatch(p: &Pipeline) {
    let a = p.apply("A", Create::of(vec![1u32]));
    let b = p.apply("B", Create::of(vec![2u32])).apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(5))),
    );
    PCollectionList::of(vec![a, b]).apply("Flatten", Flatten);
}

fn combine_default(p: &Pipeline) {
    p.apply("A", Create::of(vec![1u32]))
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(5))),
        )
        .apply("Sum", Combine::globally(Sum::<u32>::new()));
}

fn failed_assertion(p: &Pipeline) {
    let c = p.apply("Create", Create::of(vec![1u32, 2, 3]));
    assert_that(&c).contains_in_any_order(vec![1, 2, 4]);
}

/// A sum that cannot add 13.
#[derive(Clone)]
struct Unlucky;
impl CombineFn for Unlucky {
    type Input = u32;
    type Accumulator = u32;
    type Output = u32;
    fn create_accumulator(&self) -> u32 {
        0
    }
    fn add_input(&self, acc: &mut u32, v: u32) {
        assert!(v != 13, "unlucky input");
        *acc += v;
    }
    fn merge_accumulators(&self, acc: &mut u32, other: u32) {
        *acc += other;
    }
    fn extract_output(&self, acc: &u32) -> u32 {
        *acc
    }
}

fn combine_panic(p: &Pipeline) {
    p.apply("Create", Create::of(0..20u32))
        .map("Key", |v: u32| KV::new(v % 2, v))
        .apply("Total", Combine::per_key(Unlucky));
}

/// Reading a CoGroupByKey result with a tag that is not one of its inputs.
fn cogbk_unknown_tag(p: &Pipeline) {
    let a = p.apply("A", Create::of(vec![KV::new(1u32, 1i64)]));
    let (ta, stranger) = (TupleTag::<i64>::new("a"), TupleTag::<i64>::new("stranger"));
    KeyedPCollectionTuple::of(&ta, &a)
        .apply("Join", CoGroupByKey)
        .map("Read", move |kv: KV<u32, CoGbkResult>| {
            kv.value.get_all(&stranger).len()
        });
}

/// A user window function whose assignments exceed `MAX_WINDOWS_PER_ELEMENT` at run time
/// (it does not declare its bound, so the pipeline builds).
#[derive(Debug)]
struct OneTooMany;
impl WindowFn for OneTooMany {
    fn assign_windows(&self, t: Timestamp) -> Vec<Window> {
        let n = sluice_sdk::window::MAX_WINDOWS_PER_ELEMENT as i64 + 1;
        (0..n)
            .map(|ms| Window::interval(t - Duration::from_millis(ms), t + Duration::from_millis(1)))
            .collect()
    }
}

fn too_many_windows(p: &Pipeline) {
    p.apply(
        "Create",
        Create::timestamped(vec![(1u32, Timestamp::from_secs(1))]),
    )
    .apply("Everywhere", WindowInto::new(OneTooMany));
}
