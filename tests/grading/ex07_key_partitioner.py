"""Mutants and alternative correct answers for ex07_key_partitioner (Python source)."""

MUTANTS = {
    # Python's built-in hash: salted per process (PYTHONHASHSEED).
    "built-in hash()": """
def partition(key, num_partitions):
    return hash(key) % num_partitions
""",
    # The sum of the characters: stable, but anagrams and near neighbours collide.
    "sum of the bytes": """
def partition(key, num_partitions):
    return sum(key.encode("utf-8")) % num_partitions
""",
    # The last character only: 'user-1' and 'user-11' always share a partition.
    "last character": """
def partition(key, num_partitions):
    return ord(key[-1]) % num_partitions if key else 0
""",
    # Java's remainder on a signed hash: negative for half of the keys.
    "signed remainder, as in Java": """
import math
import zlib

def partition(key, num_partitions):
    signed = zlib.crc32(key.encode()) - (1 << 31)
    return int(math.fmod(signed, num_partitions))
""",
    # Modulo one partition too few: the last partition never gets a key.
    "never the last partition": """
import zlib

def partition(key, num_partitions):
    return zlib.crc32(key.encode()) % max(num_partitions - 1, 1)
""",
}

ALTERNATIVES = {
    # librdkafka's default (consistent_random for keyed messages): CRC32 of the key.
    "CRC32": """
import zlib

def partition(key, num_partitions):
    return zlib.crc32(key.encode("utf-8")) % num_partitions
""",
    # MD5's first 8 bytes as an unsigned number.
    "MD5": """
import hashlib

def partition(key, num_partitions):
    digest = hashlib.md5(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_partitions
""",
    # 32-bit FNV-1a written out, with its constants and a helper in the same cell.
    "FNV-1a, 32 bits": """
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193

def fnv1a(data):
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return h

def partition(key, num_partitions):
    return fnv1a(key.encode("utf-8")) % num_partitions
""",
    # Kafka's own: toPositive(murmur2(key)) % n, with the package's murmur2.
    "murmur2 as Kafka": """
from brokerlab.partitioning import murmur2

def partition(key, num_partitions):
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % num_partitions
""",
}
