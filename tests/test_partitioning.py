"""Partitioning: murmur2 and partition_for_key against the public vectors; CRC32; stickiness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.clock import VirtualClock
from brokerlab.errors import InvalidArgument, InvalidType, OutOfRange
from brokerlab.log import Log
from brokerlab.partitioning import (
    ConsistentRandomPartitioner,
    DefaultPartitioner,
    Murmur2RandomPartitioner,
    consistent_partition,
    crc32,
    make_partitioner,
    murmur2,
    partition_for_key,
    to_positive,
)

VECTORS = json.loads((Path(__file__).parent / "data" / "murmur2_vectors.json").read_text())


def _key(case: dict) -> bytes:
    return bytes.fromhex(case["key_hex"]) if "key_hex" in case else case["key"].encode("utf-8")


def _ids(group: str) -> list[str]:
    return [repr(_key(c)) for c in VECTORS[group]["cases"]]


# --- conformance -----------------------------------------------------------------------------------


def test_every_vector_group_names_its_source():
    for name, group in VECTORS.items():
        if name == "about":
            continue
        src = group["source"]
        assert src["repo"] and src["path"] and src["test"] and len(src["commit"]) == 40, name


@pytest.mark.parametrize("case", VECTORS["murmur2"]["cases"], ids=_ids("murmur2"))
def test_murmur2_matches_kafka_utils_test(case):
    assert murmur2(_key(case)) == case["murmur2"]


@pytest.mark.parametrize(
    "case", VECTORS["partition_for_key"]["cases"], ids=_ids("partition_for_key")
)
def test_partition_for_key_matches_kafka_python(case):
    n = VECTORS["partition_for_key"]["num_partitions"]
    assert partition_for_key(_key(case), n) == case["partition"]


@pytest.mark.parametrize(
    "case", VECTORS["librdkafka_murmur2_unittest"]["cases"], ids=_ids("librdkafka_murmur2_unittest")
)
def test_murmur2_matches_librdkafka_unittest(case):
    assert to_positive(murmur2(_key(case))) == case["positive"]


@pytest.mark.parametrize("part_cnt", VECTORS["librdkafka_partitioners"]["part_cnt"])
@pytest.mark.parametrize(
    "case", VECTORS["librdkafka_partitioners"]["cases"], ids=_ids("librdkafka_partitioners")
)
def test_partitioners_match_librdkafka_0048(case, part_cnt):
    key = _key(case)
    # murmur2 / murmur2_random: Java-compatible placement
    assert partition_for_key(key, part_cnt) == case["murmur2_positive"] % part_cnt
    assert Murmur2RandomPartitioner().for_key(key, part_cnt) == case["murmur2_positive"] % part_cnt
    # consistent: CRC32 of every key, the empty key included
    assert crc32(key) == case["crc32"]
    assert consistent_partition(key, part_cnt) == case["crc32"] % part_cnt
    # consistent_random: CRC32 of non-empty keys, a random partition for the empty key
    partitioner = ConsistentRandomPartitioner(seed=3)
    if case["consistent_random"] == "crc32":
        assert partitioner.for_key(key, part_cnt) == case["crc32"] % part_cnt
    else:
        seen = {partitioner.for_key(key, part_cnt) for _ in range(200)}
        assert len(seen) > 1 and seen <= set(range(part_cnt))


# --- properties -------------------------------------------------------------------------------------


@given(st.binary(max_size=64))
def test_murmur2_is_a_signed_java_int(data):
    h = murmur2(data)
    assert -(2**31) <= h < 2**31


@given(st.binary(max_size=64), st.integers(1, 10_000))
def test_partition_for_key_is_to_positive_mod_n(data, n):
    p = partition_for_key(data, n)
    assert p == (murmur2(data) & 0x7FFFFFFF) % n
    assert 0 <= p < n
    assert p == partition_for_key(data, n)  # deterministic


@given(st.text(max_size=20), st.integers(1, 64))
def test_str_keys_are_hashed_as_utf8(text, n):
    assert partition_for_key(text, n) == partition_for_key(text.encode("utf-8"), n)


def test_to_positive_is_not_abs():
    assert to_positive(-(2**31)) == 0
    assert to_positive(-1) == 0x7FFFFFFF
    assert abs(-1) != to_positive(-1)


def test_two_clients_put_the_same_key_on_different_partitions():
    # The teaching point: Java (murmur2) and librdkafka's default (CRC32) disagree.
    keys = [f"user-{i}".encode() for i in range(50)]
    differ = [k for k in keys if partition_for_key(k, 6) != consistent_partition(k, 6)]
    assert len(differ) > 30
    clock = VirtualClock()
    log = Log(clock)
    log.create_topic("users", partitions=6)
    java = log.producer(partitioner="default")
    rdkafka = log.producer(partitioner="consistent_random")
    k = differ[0]
    assert java.send("users", b"a", key=k).partition != rdkafka.send("users", b"b", key=k).partition
    # murmur2_random makes librdkafka agree with Java.
    agree = log.producer(partitioner="murmur2_random")
    for key in keys:
        assert agree.send("users", b"c", key=key).partition == partition_for_key(key, 6)


# --- stickiness for records without a key ----------------------------------------------------------


def test_default_null_key_sticks_until_batch_size_then_moves_to_another_partition():
    partitioner = DefaultPartitioner(seed=1, batch_size=1000)
    runs = partitioner.unkeyed("t", 4, [100] * 35, now=0.0)
    # 10 records of 100 bytes fill a 1000-byte batch; the 10th is the last on that partition.
    assert [count for _, count in runs] == [10, 10, 10, 5]
    for (a, _), (b, _) in zip(runs, runs[1:], strict=False):
        assert a != b
    # the next call continues the partly filled batch
    assert partitioner.unkeyed("t", 4, [100], now=0.0)[0][0] == runs[-1][0]


@given(
    st.lists(st.integers(0, 3000), min_size=1, max_size=60),
    st.integers(1, 8),
    st.integers(1, 5000),
    st.integers(0, 100),
)
def test_default_sticky_runs_cover_all_records_and_switch_at_batch_size(sizes, n, batch_size, seed):
    partitioner = DefaultPartitioner(seed=seed, batch_size=batch_size)
    runs = partitioner.unkeyed("t", n, sizes, now=0.0)
    assert sum(c for _, c in runs) == len(sizes)
    assert all(0 <= p < n and c > 0 for p, c in runs)
    start = 0
    for i, (p, c) in enumerate(runs):
        chunk = sizes[start : start + c]
        if i < len(runs) - 1:  # every closed run reached the batch size exactly at its last record
            assert sum(chunk) >= batch_size > sum(chunk[:-1])
            if n > 1:
                assert runs[i + 1][0] != p
        start += c


def test_librdkafka_null_key_sticks_for_linger_ms_of_time():
    partitioner = ConsistentRandomPartitioner(seed=5)  # sticky.partitioning.linger.ms = 10
    first = partitioner.unkeyed("t", 8, [10] * 100, now=0.0)
    assert len(first) == 1 and first[0][1] == 100  # no time passed: one partition
    assert partitioner.unkeyed("t", 8, [10], now=0.009)[0][0] == first[0][0]
    chosen = {partitioner.unkeyed("t", 8, [10], now=0.01 * i)[0][0] for i in range(1, 60)}
    assert len(chosen) > 1


def test_explicit_partition_always_wins():
    log = Log()
    log.create_topic("t", partitions=4)
    p = log.producer()
    assert {p.send("t", b"x", key=b"abc", partition=3).partition for _ in range(5)} == {3}


def test_empty_key_is_hashed_by_the_java_partitioner():
    log = Log()
    log.create_topic("t", partitions=1000)
    p = log.producer()
    assert p.send("t", b"x", key=b"").partition == 681  # kafka-python's vector for b''


# --- bad input ---------------------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_fix():
    with pytest.raises(InvalidType, match="Encode text first"):
        murmur2("text")  # type: ignore[arg-type]
    with pytest.raises(OutOfRange, match="num_partitions=0"):
        partition_for_key(b"k", 0)
    with pytest.raises(InvalidType, match="num_partitions"):
        partition_for_key(b"k", 2.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match="a key is bytes or str"):
        partition_for_key(17, 3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="partitioner='fnv1a' is not allowed: use one of"):
        make_partitioner("fnv1a")
