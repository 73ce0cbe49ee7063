//! Stateful DoFns: state cells per key and window, event-time and processing-time timers,
//! window expiry — the same output on every runner.
//!
//! Where a behaviour is subtle, the case says what Beam does (checked on Beam's Python SDK,
//! 2.77, on its FnApiRunner, which runs stateful DoFns with timers).

mod order;
mod six;
mod state;
mod streaming;
mod timers;

use order::{
    deduplicate_arrival_order, deduplicate_in_event_time, deduplicate_time_sorted,
    elements_then_timers, streaming_arrival_order, streaming_time_sorted, time_sorted_interleaves,
};
use sluice_sdk::prelude::*;
use sluice_tests::{Case, s, secs};
use state::{
    declared_twice, every_kind, failing, numbering, per_window, tagged_outputs, undeclared_tag,
};
use streaming::{
    streaming_chained_clocks, streaming_gc, streaming_hold, streaming_processing_timer,
    streaming_timers,
};
use timers::{behind_watermark, family, ordering, processing_at_end, reset, timer_past_expiry};

pub fn cases() -> Vec<Case> {
    vec![
        Case::pass("stateful_value_state_numbers_each_key", numbering),
        Case::pass("stateful_event_timers_order_out_of_order_input", ordering),
        Case::pass("stateful_state_is_scoped_to_key_and_window", per_window),
        Case::pass("stateful_every_kind_of_state", every_kind),
        Case::pass(
            "stateful_tagged_outputs_from_elements_and_timers",
            tagged_outputs,
        ),
        Case::fail(
            "error_stateful_output_to_an_undeclared_tag_names_it",
            undeclared_tag,
            "output tag 'stray' was not declared",
        ),
        Case::pass("stateful_timer_family_fires_per_tag", family),
        Case::pass("stateful_setting_a_timer_again_moves_it", reset),
        Case::pass(
            "stateful_timer_set_behind_the_watermark_fires_in_the_same_advance",
            behind_watermark,
        ),
        Case::pass(
            "stateful_processing_time_timer_fires_at_end_of_bounded_input",
            processing_at_end,
        ),
        Case::pass(
            "stateful_bounded_input_takes_elements_then_timers",
            elements_then_timers,
        ),
        Case::pass(
            "stateful_time_sorted_input_interleaves_elements_and_timers",
            time_sorted_interleaves,
        ),
        Case::pass(
            "stateful_deduplicate_in_event_time_keeps_the_first_to_arrive",
            deduplicate_in_event_time,
        ),
        Case::pass(
            "stateful_time_sorted_input_forgets_between_elements",
            deduplicate_time_sorted,
        ),
        Case::pass(
            "stateful_arrival_order_keeps_the_first_to_arrive",
            deduplicate_arrival_order,
        ),
        Case::pass("stateful_six_running_index_as_in_beam", six::running_index),
        Case::pass(
            "stateful_six_buffer_until_window_end_as_in_beam",
            six::buffer_until_window_end,
        ),
        Case::pass("stateful_six_moved_timer_as_in_beam", six::moved_timer),
        Case::pass(
            "stateful_six_group_into_batches_as_in_beam",
            six::group_into_batches,
        ),
        Case::pass("stateful_six_deduplicate_as_in_beam", six::deduplicate),
        Case::pass(
            "stateful_six_processing_time_timer_as_in_beam",
            six::processing_time_timer,
        ),
        Case::fail(
            "error_stateful_dofn_error_names_the_transform",
            failing,
            "transform 'Fail' failed: no negative amounts: -3",
        ),
        Case::fail(
            "error_state_declared_twice_is_a_construction_error",
            declared_twice,
            "stateful ParDo 'Twice': state or timer 'n' is declared twice",
        ),
        Case::fail(
            "error_event_timer_after_window_expiry_names_the_timer",
            timer_past_expiry,
            "timer 'late' set at",
        ),
        Case::pass(
            "teststream_stateful_timers_fire_as_the_watermark_passes",
            streaming_timers,
        )
        .streaming(),
        Case::pass(
            "teststream_stateful_processing_time_timer",
            streaming_processing_timer,
        )
        .streaming(),
        Case::pass(
            "teststream_timer_output_timestamp_holds_the_watermark_downstream",
            streaming_hold,
        )
        .streaming(),
        Case::pass(
            "teststream_processing_time_steps_reach_downstream_stages_in_order",
            streaming_chained_clocks,
        )
        .streaming(),
        Case::pass(
            "teststream_stateful_late_data_for_an_expired_window_is_dropped",
            streaming_gc,
        )
        .streaming(),
        Case::pass(
            "teststream_time_sorted_input_waits_for_the_watermark",
            streaming_time_sorted,
        )
        .streaming(),
        Case::pass(
            "teststream_stateful_input_in_arrival_order",
            streaming_arrival_order,
        )
        .streaming(),
    ]
}

/// A keyed input of `(key, value, seconds)` events.
fn keyed(p: &Pipeline, events: Vec<(&str, i64, i64)>) -> PCollection<KV<String, i64>> {
    p.apply(
        "Create",
        Create::timestamped(
            events
                .into_iter()
                .map(|(k, v, t)| (KV::new(s(k), v), secs(t))),
        ),
    )
}

/// A keyed input of `(key, value, seconds)` events that arrive in the order given on every
/// runner (see [`sluice_tests::arriving`]).
fn arriving(p: &Pipeline, events: Vec<(&str, i64, i64)>) -> PCollection<KV<String, i64>> {
    let events = events
        .into_iter()
        .map(|(k, v, t)| (KV::new(s(k), v), secs(t)));
    sluice_tests::arriving(p, events.collect())
}
