"""Partitioning: which partition of a topic a record goes to.

A Kafka topic is split into partitions, and order is kept only *within* a partition. So the
choice of partition decides what stays in order: records with the same key go to the same
partition, so they stay in order relative to each other.

The rules, in the order a producer applies them:

1. An explicit ``partition=`` always wins.
2. A record with a key goes to ``hash(key) % number_of_partitions``. *Which* hash depends on
   the client library, and that is a trap (see below).
3. A record without a key (``key=None``) is not hashed: it goes to a "sticky" partition, which
   the producer keeps until it has filled a batch there, and then moves on (KIP-480, KIP-794).

Two clients, two hashes
-----------------------
The Java client (and kafka-python, Sarama's ``NewReferenceHashPartitioner``...) hashes the key
with **murmur2** and takes ``toPositive(h) % n`` where ``toPositive(h) = h & 0x7fffffff``
(source: ``org.apache.kafka.clients.producer.internals.BuiltInPartitioner.partitionForKey`` and
``org.apache.kafka.common.utils.Utils.murmur2``).

librdkafka, and so confluent-kafka-python, Go's confluent-kafka-go and many others, defaults to
``partitioner=consistent_random``: **CRC32** of the key, ``crc32(key) % n``; an empty or null key
gets a random partition (librdkafka ``CONFIGURATION.md``, ``rdkafka_msg.c``). So a Java producer
and a Python confluent-kafka producer put the *same key* on *different partitions* unless one of
them is configured to match the other (librdkafka ``partitioner=murmur2_random``).

:func:`murmur2` and :func:`partition_for_key` are checked against the public test vectors of
Kafka (``UtilsTest.testMurmur2``), kafka-python (``test_murmur2_java_compatibility``) and
librdkafka (``tests/0048-partitioner.c``); see ``tests/data/murmur2_vectors.json``.
"""

from __future__ import annotations

import random
import struct
import zlib
from bisect import bisect_left
from functools import lru_cache
from itertools import accumulate

from .errors import InvalidType, check_choice, check_range

__all__ = [
    "PARTITIONERS",
    "ConsistentRandomPartitioner",
    "DefaultPartitioner",
    "Murmur2RandomPartitioner",
    "Partitioner",
    "consistent_partition",
    "crc32",
    "make_partitioner",
    "murmur2",
    "partition_for_key",
    "to_positive",
]

_MASK32 = 0xFFFFFFFF
_SEED = 0x9747B28C
_M = 0x5BD1E995
_R = 24
_BLOCKS = struct.Struct("<I")


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 hash of ``data``, as Java's *signed* ``int``.

    A port of ``org.apache.kafka.common.utils.Utils.murmur2``: seed ``0x9747b28c``, m
    ``0x5bd1e995``, r 24, blocks read little-endian. Java ints wrap at 32 bits, so every step is
    masked to 32 bits, and the result is turned back into a signed value at the end.

    >>> murmur2(b"21")
    -973932308
    >>> murmur2(b"abc")
    479470107
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidType(
            f"data={data!r} is a {type(data).__name__}: murmur2 hashes bytes. "
            "Encode text first, e.g. 'user-1'.encode('utf-8')."
        )
    data = bytes(data)
    length = len(data)
    h = (_SEED ^ length) & _MASK32
    end = length & ~3
    for (k,) in _BLOCKS.iter_unpack(data[:end]):
        k = (k * _M) & _MASK32
        k ^= k >> _R
        k = (k * _M) & _MASK32
        h = ((h * _M) & _MASK32) ^ k
    tail = length & 3
    if tail == 3:
        h ^= data[end + 2] << 16
    if tail >= 2:
        h ^= data[end + 1] << 8
    if tail >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK32
    h ^= h >> 13
    h = (h * _M) & _MASK32
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(h: int) -> int:
    """Kafka's ``Utils.toPositive``: clear the sign bit (``h & 0x7fffffff``).

    Not ``abs()``: ``abs(-2**31)`` does not fit in a Java int, which is why Kafka masks instead.
    """
    return h & 0x7FFFFFFF


def _check_partitions(num_partitions: int) -> int:
    if isinstance(num_partitions, bool) or not isinstance(num_partitions, int):
        raise InvalidType(
            f"num_partitions={num_partitions!r} is a {type(num_partitions).__name__}: "
            "pass the topic's partition count as an int, e.g. 3."
        )
    return check_range("num_partitions", num_partitions, 1, 2**31 - 1, example=3)


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidType(
            f"seed={seed!r} is a {type(seed).__name__}: a seed is an int, e.g. seed=0 (the same "
            "seed gives the same choices)."
        )
    return seed


def _key_bytes(key: bytes | str, name: str = "key") -> bytes:
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    raise InvalidType(
        f"{name}={key!r} is a {type(key).__name__}: a key is bytes or str (str is encoded "
        "as UTF-8). Convert it first, e.g. str(user_id)."
    )


@lru_cache(maxsize=65536)
def _murmur_partition(key: bytes, num_partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


def partition_for_key(key: bytes, num_partitions: int) -> int:
    """The partition Kafka's Java client picks for ``key``: ``toPositive(murmur2(key)) % n``.

    ``key`` may also be a ``str``, which is encoded as UTF-8 first (what Kafka's
    ``StringSerializer`` does). An empty key ``b""`` is hashed like any other key.

    >>> partition_for_key(b"abc", 1000)
    107
    """
    n = _check_partitions(num_partitions)
    return _murmur_partition(_key_bytes(key), n)


def crc32(data: bytes) -> int:
    """The CRC-32 (IEEE 802.3, as zlib) of ``data``, unsigned: librdkafka's ``rd_crc32``."""
    return zlib.crc32(_key_bytes(data, "data"))


def consistent_partition(key: bytes, num_partitions: int) -> int:
    """librdkafka's ``consistent`` choice for a key: ``crc32(key) % n``.

    This is what ``partitioner=consistent_random`` (librdkafka's default) does for every
    non-empty key.
    """
    n = _check_partitions(num_partitions)
    return zlib.crc32(_key_bytes(key)) % n


# --- partitioners: the producer-side object that also remembers the sticky partition ------------


class Partitioner:
    """Base class: picks partitions for one producer, remembering sticky state per topic.

    Subclasses define :meth:`for_key` (a record with a key) and :meth:`unkeyed` (a run of records
    without a key). Randomness comes from ``random.Random(seed)``, so runs repeat exactly.
    """

    name = "base"

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(_check_seed(seed))
        self._sticky: dict[str, list] = {}  # topic -> partitioner-specific state

    def for_key(self, key: bytes, num_partitions: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def unkeyed(
        self, topic: str, num_partitions: int, sizes: list[int], now: float
    ) -> list[tuple[int, int]]:  # pragma: no cover - abstract
        """Spread records with no key: return ``[(partition, count), ...]`` in record order."""
        raise NotImplementedError

    def _other_partition(self, current: int | None, num_partitions: int) -> int:
        if current is None or num_partitions == 1:
            return self._random.randrange(num_partitions)
        p = self._random.randrange(num_partitions - 1)
        return p + 1 if p >= current else p

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class DefaultPartitioner(Partitioner):
    """The Java client's built-in partitioner (Kafka >= 3.3, KIP-794; before that KIP-480).

    - key: ``partition_for_key(key, n)`` (murmur2);
    - no key: *sticky*. Stay on one partition until ``batch_size`` bytes (``batch.size``,
      default 16384) have gone to it, then jump to another partition chosen at random.

    Deliberate differences: Kafka switches when the batch is *sent or full*, and with
    ``partitioner.adaptive.partitioning.enable`` (default true) it prefers partitions on faster
    brokers. Here every broker is equally fast, so the switch happens exactly at ``batch_size``
    bytes, and the next partition is any *other* partition, uniformly (as in KIP-480). The
    size of a record is counted as ``len(key) + len(value)``, without Kafka's per-record
    overhead.
    """

    name = "default"

    def __init__(self, seed: int = 0, batch_size: int = 16384) -> None:
        super().__init__(seed)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise InvalidType(
                f"batch_size={batch_size!r} is a {type(batch_size).__name__}: batch.size is a "
                "whole number of bytes. Pass an int, e.g. batch_size=16384."
            )
        self.batch_size = check_range(
            "batch_size", batch_size, 1, 2**31 - 1, "bytes", example=16384
        )

    def for_key(self, key: bytes, num_partitions: int) -> int:
        return _murmur_partition(key, num_partitions)

    def unkeyed(
        self, topic: str, num_partitions: int, sizes: list[int], now: float
    ) -> list[tuple[int, int]]:
        state = self._sticky.get(topic)
        if state is None or state[0] >= num_partitions:
            state = self._sticky[topic] = [self._other_partition(None, num_partitions), 0]
        runs: list[tuple[int, int]] = []
        cumulative = list(accumulate(sizes))
        done = 0  # records placed so far
        placed_bytes = 0  # bytes of those records
        total = len(sizes)
        while done < total:
            room = self.batch_size - state[1]
            # The first record whose running total reaches the batch size is the last one
            # on this partition.
            last = bisect_left(cumulative, placed_bytes + room, lo=done)
            if last >= total:
                runs.append((state[0], total - done))
                state[1] += cumulative[-1] - placed_bytes
                break
            runs.append((state[0], last + 1 - done))
            placed_bytes = cumulative[last]
            done = last + 1
            state[0] = self._other_partition(state[0], num_partitions)
            state[1] = 0
        return runs


class ConsistentRandomPartitioner(Partitioner):
    """librdkafka's default ``partitioner=consistent_random`` (confluent-kafka-python, Go...).

    - non-empty key: ``crc32(key) % n`` (:func:`consistent_partition`);
    - empty key ``b""``: a random partition for every record (librdkafka hashes no empty keys);
    - no key: sticky for ``sticky.partitioning.linger.ms`` (default 10 ms) of *time*, then a new
      random partition (librdkafka >= 1.5, ``rd_kafka_msg_sticky_partition``).

    Source: librdkafka ``src/rdkafka_msg.c`` and ``CONFIGURATION.md``.
    """

    name = "consistent_random"

    def __init__(self, seed: int = 0, sticky_linger_ms: float = 10.0) -> None:
        super().__init__(seed)
        self.sticky_linger_ms = check_range(
            "sticky_linger_ms", sticky_linger_ms, 0, 900_000, "ms", example=10
        )

    def _hash_partition(self, key: bytes, num_partitions: int) -> int:
        return zlib.crc32(key) % num_partitions

    def for_key(self, key: bytes, num_partitions: int) -> int:
        if not key:
            return self._random.randrange(num_partitions)
        return self._hash_partition(key, num_partitions)

    def unkeyed(
        self, topic: str, num_partitions: int, sizes: list[int], now: float
    ) -> list[tuple[int, int]]:
        state = self._sticky.get(topic)
        linger = self.sticky_linger_ms / 1000.0
        if linger == 0:  # sticky partitioning off: every record random
            return [(self._random.randrange(num_partitions), 1) for _ in sizes]
        if state is None or state[0] >= num_partitions or now - state[1] >= linger:
            state = self._sticky[topic] = [self._random.randrange(num_partitions), now]
        return [(state[0], len(sizes))] if sizes else []


class Murmur2RandomPartitioner(ConsistentRandomPartitioner):
    """librdkafka's ``partitioner=murmur2_random``: Java-compatible placement of keys.

    Same as the Java client for non-null keys (an empty key is hashed too); a null key gets
    librdkafka's time-sticky random partition. Use it to make a librdkafka-based client agree
    with Java producers.
    """

    name = "murmur2_random"

    def _hash_partition(self, key: bytes, num_partitions: int) -> int:
        return _murmur_partition(key, num_partitions)

    def for_key(self, key: bytes, num_partitions: int) -> int:
        return _murmur_partition(key, num_partitions)


PARTITIONERS: dict[str, type[Partitioner]] = {
    "default": DefaultPartitioner,
    "consistent_random": ConsistentRandomPartitioner,
    "murmur2_random": Murmur2RandomPartitioner,
}


def make_partitioner(partitioner: str, *, seed: int = 0, batch_size: int = 16384) -> Partitioner:
    """Build a partitioner by name: ``'default'`` (Java client, murmur2), ``'consistent_random'``
    (librdkafka's default, CRC32) or ``'murmur2_random'`` (librdkafka, Java-compatible)."""
    check_choice("partitioner", partitioner, tuple(PARTITIONERS))
    if partitioner == "default":
        return DefaultPartitioner(seed=seed, batch_size=batch_size)
    return PARTITIONERS[partitioner](seed=seed)
