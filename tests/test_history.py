"""History: recording, sharing, and the JSON Lines round trip (including malformed files)."""

from __future__ import annotations

import copy
import io
import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.errors import HistoryFormatError, InvalidArgument
from brokerlab.history import KINDS, Event, History, Info

DATA = Path(__file__).parent / "data" / "histories"


def small_history() -> History:
    h = History()
    h.record(0.0, "producer", "publish", "m1", key="k", attempt=1)
    h.record(0.5, "producer", "publish", "m2", key="k", attempt=1)
    h.record(1.0, "consumer-1", "deliver", "m1", partition=0, offset=0, group="g")
    h.record(2.0, "consumer-1", "crash", when="after processing")
    return h


# --- recording -------------------------------------------------------------------------------------


def test_record_numbers_events_and_keeps_fields():
    h = small_history()
    assert [e.index for e in h] == [0, 1, 2, 3]
    e = h[2]
    assert (e.time, e.actor, e.kind, e.msg, e.partition, e.offset) == (
        1.0,
        "consumer-1",
        "deliver",
        "m1",
        0,
        0,
    )
    assert e.info == {"group": "g"}
    assert e.get("group") == "g" and e.get("nope", 7) == 7
    assert h[3].msg is None and h[3].info == {"when": "after processing"}


def test_empty_info_is_none():
    h = History()
    e = h.record(0, "p", "publish", "m1")
    assert e.info is None
    assert "info" not in e.to_dict()


def test_equal_infos_are_shared_and_read_only():
    h = small_history()
    assert h[0].info is h[1].info  # {"attempt": 1} stored once
    assert isinstance(h[0].info, Info) and isinstance(h[0].info, dict)
    with pytest.raises(TypeError, match="read-only"):
        h[0].info["attempt"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        h[0].info.update(attempt=3)  # type: ignore[union-attr]
    assert h[1].info == {"attempt": 1}
    assert copy.deepcopy(h[0].info) == {"attempt": 1}


def test_unhashable_info_values_are_kept():
    h = History()
    e = h.record(0, "p", "publish", "m1", tags=["a", "b"])
    assert e.info == {"tags": ["a", "b"]}


def test_record_rejects_unknown_kind_and_changes_nothing():
    h = small_history()
    before = h.to_jsonl()
    with pytest.raises(InvalidArgument, match="kind='recieve' is not an event kind"):
        h.record(3.0, "consumer-1", "recieve", "m1")
    with pytest.raises(InvalidArgument):
        h.append(Event(3.0, "consumer-1", "bogus"))
    assert h.to_jsonl() == before and len(h) == 4


def test_append_renumbers_and_select_copies():
    h = small_history()
    sub = h.select([1, 3])
    assert [e.index for e in sub] == [0, 1]
    assert [e.kind for e in sub] == ["publish", "crash"]
    assert h[1].index == 1 and h[3].index == 3  # the original is untouched
    assert sub[0] == h[1] and sub[0] is not h[1]


def test_repr_is_short_and_useful():
    h = small_history()
    assert repr(h) == "History(4 events, actors=['consumer-1', 'producer'])"
    assert repr(h[2]) == "<#2 t=1 consumer-1 deliver m1 p0 @0 group=g>"
    assert h.actors() == ["producer", "consumer-1"]
    assert [e.index for e in h.of_kind("publish")] == [0, 1]


# --- JSON Lines ---------------------------------------------------------------------------------------


def test_jsonl_round_trip_text_path_and_file(tmp_path):
    h = small_history()
    text = h.to_jsonl()
    assert text.count("\n") == 4
    assert History.from_jsonl(text) == h
    path = tmp_path / "run.jsonl"
    h.to_jsonl(path)
    assert History.from_jsonl(path) == h
    assert History.from_jsonl(str(path)) == h
    assert History.from_jsonl(io.StringIO(text)) == h


def test_loading_shares_strings_and_infos():
    h = History.from_jsonl(small_history().to_jsonl())
    assert h[0].actor is h[1].actor
    assert h[0].key is h[1].key
    assert h[0].info is h[1].info


def test_blank_lines_are_skipped_but_counted():
    text = '\n{"time": 0, "actor": "p", "kind": "publish", "msg": "m1"}\n\n'
    assert len(History.from_jsonl(text)) == 1
    with pytest.raises(HistoryFormatError, match="line 4"):
        History.from_jsonl(text + '{"time": 1}\n')


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"time": 0, "actor": "p", "kind": "publish"', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"actor": "p", "kind": "publish"}', "missing field(s) time"),
        ('{"time": 0, "actor": "p", "kind": "publish", "colour": 1}', "unknown field(s) colour"),
        ('{"time": 0, "actor": "p", "kind": "recieve"}', "'recieve' is not an event kind"),
        ('{"time": "noon", "actor": "p", "kind": "crash"}', "not a finite number"),
        ('{"time": NaN, "actor": "p", "kind": "crash"}', "not a finite number"),
        ('{"time": Infinity, "actor": "p", "kind": "crash"}', "not a finite number"),
        ('{"time": true, "actor": "p", "kind": "crash"}', "not a finite number"),
        ('{"time": 0, "actor": "", "kind": "crash"}', "not a non-empty string"),
        ('{"time": 0, "actor": "p", "kind": "publish", "msg": 17}', 'e.g. "17"'),
        ('{"time": 0, "actor": "p", "kind": "publish", "key": ["a"]}', "key=['a'] is not a string"),
        ('{"time": 0, "actor": "p", "kind": "deliver", "partition": -1}', "whole number >= 0"),
        ('{"time": 0, "actor": "p", "kind": "deliver", "offset": 1.5}', "whole number >= 0"),
        ('{"time": 0, "actor": "p", "kind": "crash", "info": "x"}', "info must be a JSON object"),
    ],
)
def test_malformed_line_names_line_number_and_reason(line, reason):
    good = '{"time": 0, "actor": "p", "kind": "publish", "msg": "m0"}\n'
    with pytest.raises(HistoryFormatError) as err:
        History.from_jsonl(good + good + line + "\n")
    assert str(err.value).startswith("line 3: ")
    assert reason in str(err.value)


def test_malformed_files_on_disk():
    with pytest.raises(HistoryFormatError, match=r"^line 2: not valid JSON"):
        History.from_jsonl(DATA / "malformed_bad_json.jsonl")
    with pytest.raises(HistoryFormatError, match=r"^line 3: kind='recieve'"):
        History.from_jsonl(DATA / "malformed_unknown_kind.jsonl")


def test_every_hand_made_history_loads_and_round_trips():
    files = sorted(p for p in DATA.glob("*.jsonl") if not p.name.startswith("malformed_bad"))
    assert len(files) >= 15
    for path in files:
        if "unknown_kind" in path.name:
            continue
        h = History.from_jsonl(path)
        assert len(h) > 0
        assert h.to_jsonl() == path.read_text(encoding="utf-8"), path.name


# --- hypothesis: random histories round-trip exactly ----------------------------------------------

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    names,
)
infos = st.one_of(
    st.none(),
    st.dictionaries(names, st.one_of(json_scalars, st.lists(json_scalars, max_size=3)), max_size=3),
)


@st.composite
def histories(draw) -> History:
    h = History()
    n = draw(st.integers(0, 25))
    t = 0.0
    for _ in range(n):
        t += draw(st.floats(0, 1e6, allow_nan=False, allow_infinity=False))
        info = draw(infos)
        h.append(
            Event(
                draw(st.one_of(st.just(t), st.integers(0, 10**9))),
                draw(names),
                draw(st.sampled_from(KINDS)),
                draw(st.none() | names),
                draw(st.none() | names),
                draw(st.none() | st.integers(0, 2**31)),
                draw(st.none() | st.integers(0, 2**62)),
                info,
            )
        )
    return h


@given(histories())
def test_jsonl_round_trip_is_exact(h):
    text = h.to_jsonl()
    back = History.from_jsonl(text)
    assert back == h
    assert back.to_jsonl() == text
    for a, b in zip(h, back):
        assert type(a.time) is type(b.time)
        assert a.time == b.time or (math.isnan(a.time) and math.isnan(b.time))


def test_jsonl_lines_are_sorted_json_objects():
    for line in small_history().to_jsonl().splitlines():
        d = json.loads(line)
        assert list(d) == sorted(d)
