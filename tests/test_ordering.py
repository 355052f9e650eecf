import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from brokerlab.errors import InvalidArgument, InvalidType  # noqa: E402
from brokerlab.ordering import (  # noqa: E402
    consume_in_parallel,
    key_weights,
    ordering_widget,
    parallel_workers,
    plot_consumer_load,
    plot_effect_order,
    producer_retry,
    rebalance_mid_batch,
    skewed_keys,
)

layouts = st.fixed_dictionaries(
    {
        "partitions": st.integers(1, 12),
        "consumers": st.integers(1, 12),
        "skew": st.sampled_from([0, 0.5, 1, 1.5, 2]),
        "messages": st.integers(1, 120),
        "seed": st.integers(0, 1000),
    }
)


@settings(derandomize=True)
@given(layouts)
def test_keys_keep_per_key_order_with_one_owner_per_partition_and_no_retries(kw):
    run = consume_in_parallel("by key", **kw)
    assert run.report.ok("per-key-order")
    assert run.report.ok("per-partition-order")
    assert sum(run.processed.values()) == kw["messages"]  # every message, once
    assert run.report.ok("exactly-once")


@settings(derandomize=True)
@given(layouts)
def test_one_partition_is_a_total_order_done_by_one_consumer(kw):
    run = consume_in_parallel("one partition", **kw)
    assert run.partitions == 1 and run.violations == 0
    assert sorted(run.processed.values())[-1] == kw["messages"]
    effects = [e.msg for e in run.history.of_kind("process")]
    assert effects == [f"m{i}" for i in range(1, kw["messages"] + 1)]  # the send order


def test_without_keys_order_per_key_is_lost():
    run = consume_in_parallel("no key", partitions=6, consumers=3)
    assert run.violations > 0
    assert not run.report.ok("per-key-order")
    assert run.report.ok("per-partition-order")  # each partition is still read in order
    assert all(a.what == "key" for a in run.report.order)


def test_one_partition_caps_throughput_at_one_consumer():
    one = consume_in_parallel("one partition", consumers=3)
    keyed = consume_in_parallel("by key", consumers=3)
    assert one.throughput <= 1 / one.service_time + 1e-9
    assert keyed.throughput > 1.5 * one.throughput
    assert list(one.processed.values())[1:] == [0, 0]  # the others sit idle


def test_a_hot_key_loads_one_consumer():
    fair = consume_in_parallel("by key", partitions=6, consumers=3, skew=0)
    hot = consume_in_parallel("by key", partitions=6, consumers=3, skew=2)
    assert hot.hottest_share > fair.hottest_share
    assert hot.hottest_share > 0.5
    assert hot.throughput < fair.throughput


def test_more_consumers_than_partitions_leaves_some_idle():
    run = consume_in_parallel("by key", partitions=2, consumers=4)
    assert sum(1 for parts in run.partitions_of.values() if not parts) == 2
    assert sum(1 for n in run.processed.values() if n == 0) == 2


def test_key_weights_and_skewed_keys():
    assert key_weights(4, 0) == [0.25] * 4
    w = key_weights(10, 1.5)
    assert abs(sum(w) - 1) < 1e-12 and w == sorted(w, reverse=True)
    assert skewed_keys(50, keys=5, seed=3) == skewed_keys(50, keys=5, seed=3)
    assert set(skewed_keys(200, keys=5, seed=3)) <= {f"acct-0{i}" for i in range(1, 6)}


def test_producer_retry_without_idempotence_reorders_a_key():
    story = producer_retry(idempotent=False, in_flight=2)
    assert story.verdicts() == {"per-key-order": False, "per-partition-order": True}
    [anomaly] = story.order
    assert anomaly.msg == "m1" and anomaly.what == "key"
    kinds = [e.kind for e in anomaly.events]
    assert kinds == ["publish", "publish", "process", "process"]


@pytest.mark.parametrize("idempotent, in_flight", [(True, 2), (True, 5), (False, 1)])
def test_idempotence_or_one_request_in_flight_keeps_order(idempotent, in_flight):
    story = producer_retry(idempotent=idempotent, in_flight=in_flight)
    assert story.verdicts() == {"per-key-order": True, "per-partition-order": True}
    assert story.report.ok("exactly-once")
    if idempotent:
        assert any("OutOfOrderSequence" in n for n in story.notes)


def test_a_rebalance_after_committing_the_batch_first_reorders():
    story = rebalance_mid_batch("before processing")
    assert story.verdicts() == {"per-key-order": False, "per-partition-order": False}
    assert {a.msg for a in story.order} == {"m2", "m3"}
    assert story.report.ok("exactly-once")
    assert any("CommitFailed" in n for n in story.notes)
    assert story.history.of_kind("rebalance")


def test_a_rebalance_after_committing_per_record_duplicates_instead():
    story = rebalance_mid_batch("after processing")
    assert story.verdicts() == {"per-key-order": True, "per-partition-order": True}
    assert not story.report.ok("at-most-once")
    assert story.report.ok("at-least-once")


@settings(derandomize=True)
@given(st.integers(1, 8), st.integers(0, 500), st.integers(1, 60))
def test_workers_by_key_keep_each_keys_order(workers, seed, messages):
    story = parallel_workers(workers=workers, by_key=True, seed=seed, messages=messages)
    assert story.report.ok("per-key-order")
    assert story.report.ok("exactly-once")


def test_any_free_worker_breaks_key_order_and_by_key_costs_some_speed():
    free = parallel_workers(workers=3, by_key=False)
    keyed = parallel_workers(workers=3, by_key=True)
    alone = parallel_workers(workers=1)
    assert not free.report.ok("per-key-order")
    assert keyed.report.ok("per-key-order")
    assert alone.verdicts() == {"per-key-order": True, "per-partition-order": True}
    assert free.finished_at <= keyed.finished_at < alone.finished_at


def test_runs_repeat_exactly():
    a = consume_in_parallel("no key", skew=1.0, seed=5)
    b = consume_in_parallel("no key", skew=1.0, seed=5)
    assert a.history.to_jsonl() == b.history.to_jsonl()


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: consume_in_parallel("random"), InvalidArgument, "strategy='random'"),
        (lambda: consume_in_parallel(partitions=0), InvalidArgument, "partitions=0"),
        (lambda: consume_in_parallel(consumers=2.5), InvalidType, "consumers=2.5"),
        (lambda: consume_in_parallel(skew=-1), InvalidArgument, "skew=-1"),
        (lambda: consume_in_parallel(split_hot=0), InvalidArgument, "split_hot=0"),
        (lambda: producer_retry(in_flight=6), InvalidArgument, "in_flight=6"),
        (lambda: producer_retry(idempotent="yes"), InvalidType, "idempotent"),
        (lambda: rebalance_mid_batch("never"), InvalidArgument, "commit='never'"),
        (lambda: parallel_workers(workers=0), InvalidArgument, "workers=0"),
    ],
)
def test_bad_input_names_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_pictures_draw_on_a_given_ax_and_on_their_own():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    run = consume_in_parallel("no key")
    assert plot_consumer_load(run, ax=ax) is ax.figure
    assert "out of key order" in ax.get_title()
    fig = plot_effect_order(parallel_workers())
    assert fig.axes[0].get_ylabel() == "key"
    with pytest.raises(InvalidArgument, match="story="):
        plot_effect_order(object())


def test_the_widget_redraws_for_its_largest_setting():
    w = ordering_widget()
    w.controls["partitions"].value = 12
    w.controls["consumers"].value = 12
    w.controls["skew"].value = 2.0
    w.controls["keys"].value = "no key"
    assert w.error.value == ""
    assert w.png.startswith(b"\x89PNG")


@pytest.mark.parametrize("split", [2, 4, 6])
def test_splitting_the_hot_key_costs_that_keys_order_and_only_that(split):
    run = consume_in_parallel("by key", partitions=6, consumers=3, skew=2.0, split_hot=split)
    assert sum(run.processed.values()) == run_messages(run)
    assert {a.key for a in run.report.order if a.what == "key"} <= {"acct-01"}
    assert run.report.ok("per-partition-order") and run.report.ok("exactly-once")
    assert consume_in_parallel("by key", skew=2.0, split_hot=1).violations == 0


def test_a_split_spreads_the_hot_key_over_partitions():
    one = consume_in_parallel("by key", partitions=12, consumers=6, skew=2.0)
    split = consume_in_parallel("by key", partitions=12, consumers=6, skew=2.0, split_hot=4)
    assert max(split.per_partition) < max(one.per_partition)
    assert split.throughput > one.throughput


def run_messages(run):
    return len(run.history.of_kind("publish"))
