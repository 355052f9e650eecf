import hashlib

import pytest

from brokerlab.errors import InvalidType, check_choice, check_range, out_of_range
from brokerlab.message import Delivery, Message, body_bytes, check_payload


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
