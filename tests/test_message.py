import copy
import hashlib
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.errors import InvalidType, check_choice, check_range, out_of_range
from brokerlab.message import (
    Delivery,
    Message,
    body_bytes,
    body_size,
    check_payload,
)


@pytest.mark.parametrize("payload", [b"x", "text", 3, 2.5, True, None, {"a": [1, 2]}, [1, "b"]])
def test_carriable_payloads_pass(payload):
    assert check_payload(payload) == payload


@pytest.mark.parametrize("payload", [{1, 2}, object(), {"a": {1}}, float("nan")])
def test_other_payloads_are_refused_with_a_fix(payload):
    if isinstance(payload, float):  # NaN is a float: allowed as a scalar (JSON cannot, bytes can)
        assert check_payload(payload) != check_payload(payload)
        return
    with pytest.raises(InvalidType, match="payload of type .* cannot be sent.*Convert it"):
        check_payload(payload)


def test_body_bytes_is_canonical():
    assert body_bytes(b"\x00") == b"\x00"
    assert body_bytes("é") == "é".encode()
    assert body_bytes({"b": 1, "a": 2}) == body_bytes({"a": 2, "b": 1}) == b'{"a":2,"b":1}'
    # SQS content-based deduplication hashes exactly these bytes with SHA-256
    assert hashlib.sha256(body_bytes("hello")).hexdigest().startswith("2cf24dba")


@given(
    st.one_of(
        st.integers(-(10**300), 10**300),
        st.booleans(),
        st.none(),
        st.floats(allow_nan=False),
        st.text(),
        st.binary(),
        st.dictionaries(st.text(max_size=5), st.integers()),
    )
)
def test_body_size_is_the_length_of_body_bytes(payload):
    assert body_size(payload) == len(body_bytes(payload))


def test_message_and_delivery_reprs_are_short_and_useful():
    m = Message("m1", {"order": 17}, key="orders.eu", headers={"x-death": [{"reason": "rejected"}]})
    assert repr(m).startswith("Message('m1', {'order': 17}, key='orders.eu'")
    assert m.deaths == [{"reason": "rejected"}]
    d = Delivery(
        m,
        "jobs",
        delivery_tag=4,
        receipt_handle="jobs:m1:2",
        receive_count=2,
        redelivered=True,
        consumer="c1",
    )
    assert (d.id, d.payload, d.key) == ("m1", {"order": 17}, "orders.eu")
    assert repr(d) == (
        "Delivery('m1', {'order': 17}, tag=4, receive_count=2, redelivered, consumer='c1')"
    )


def test_messages_and_deliveries_compare_copy_and_pickle_by_their_fields():
    m = Message("m7", b"x", timestamp=2.5)
    plain = Message("m7", b"x", None, {}, 2.5, None, None)
    assert m == plain and repr(m) == repr(plain) == "Message('m7', b'x')"
    assert (m.id, m.key, m.headers, m.timestamp, m.group, m.dedup_id) == (
        "m7",
        None,
        {},
        2.5,
        None,
        None,
    )
    assert m != Message("m8", b"x", timestamp=2.5) and m != ("m7", b"x")
    for twin in (copy.copy(m), copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert twin == m and twin.id == "m7"
    assert Message("m1", "x", headers=None).headers == {}
    m.key = "k"  # messages stay mutable (the broker re-keys dead-letter copies)
    m.id = "renamed"
    assert (m.key, m.id) == ("k", "renamed")
    with pytest.raises(TypeError):
        hash(m)

    d = Delivery(plain, "jobs", 3, None, 2, True, "c1")
    full = Delivery(plain, "jobs", 3, "jobs:m7:3", 2, True, "c1")
    assert d == full and repr(d) == repr(full)
    assert d.receipt_handle == "jobs:m7:3" and d.redelivered is True
    assert Delivery(plain, "jobs", 3, None) != Delivery(plain, "jobs", 3, "other:m7:3")
    assert copy.deepcopy(d) == d == pickle.loads(pickle.dumps(d))
    d.receipt_handle = "custom"
    assert d.receipt_handle == "custom" and d != full


def test_a_delivery_names_the_exchange_its_message_came_through():
    m = Message("m1", "x", key="resize")
    d = Delivery(m, "jobs", 1, None, 1, False, None, "images")
    assert (d.exchange, d.key) == ("images", "resize")  # basic.deliver's exchange, routing key
    assert d != Delivery(m, "jobs", 1, None, 1)  # the exchange is part of equality
    assert Delivery(m, "jobs", 1, None).exchange == ""  # the default exchange
    assert repr(d) == "Delivery('m1', 'x', tag=1, receive_count=1)"  # short as before
    for twin in (copy.deepcopy(d), pickle.loads(pickle.dumps(d))):
        assert twin == d and twin.exchange == "images"
    match d:
        case Delivery(queue="jobs", exchange="images"):
            pass
        case _:  # pragma: no cover - the match above must succeed
            raise AssertionError("Delivery does not match on exchange")


def test_error_helpers_name_parameter_allowed_and_fix():
    err = out_of_range("visibility_timeout", -5, 0, 43200, "seconds", who="SQS", example=30)
    assert str(err) == (
        "visibility_timeout=-5 is out of range: SQS allows 0..43200 seconds. "
        "Pass a value in that range, e.g. 30."
    )
    assert check_range("delay", 5, 0, 900) == 5
    with pytest.raises(InvalidType, match="delay=True"):
        check_range("delay", True, 0, 900)
    with pytest.raises(ValueError, match="delay=nan"):
        check_range("delay", float("nan"), 0, 900)
    with pytest.raises(ValueError, match="kind='x' is not allowed: use one of 'a', 'b'"):
        check_choice("kind", "x", ("a", "b"))
