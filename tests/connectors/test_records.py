"""The records' constructors: quick (`_quick_init`) and otherwise the dataclasses' own."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from datetime import UTC, datetime

import pytest

from connectors.records import CustomerRef, Touchpoint, _quick_init

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class Plain:  # the dataclass-generated __init__, to compare with
    a: str
    b: int | None = None
    c: dict = dataclasses.field(default_factory=dict)


@_quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class Quick:
    a: str
    b: int | None = None
    c: dict = dataclasses.field(default_factory=dict)


def test_quick_init_takes_the_same_arguments_as_the_generated_one():
    assert str(inspect.signature(Quick)) == str(inspect.signature(Plain))
    for args, kwargs in [(("x",), {}), (("x", 2), {}), (("x",), {"c": {"k": 1}}), ((), {"a": "y"})]:
        quick, plain = Quick(*args, **kwargs), Plain(*args, **kwargs)
        assert (quick.a, quick.b, quick.c) == (plain.a, plain.b, plain.c)
    assert Quick("x").c is not Quick("x").c  # a fresh default each time
    shared = {"k": 1}
    assert Quick("x", c=shared).c is shared
    for bad in [((), {}), (("x", 1, {}, 4), {}), (("x",), {"d": 1}), (("x",), {"a": "y"})]:
        with pytest.raises(TypeError):
            Quick(*bad[0], **bad[1])


def test_quick_records_stay_frozen_comparable_and_picklable():
    ref = CustomerRef(email="a@example.com")
    touchpoint = Touchpoint("e1", "article_view", AT, ref, article_id="7")
    assert touchpoint.properties == {} and touchpoint.channel is None
    assert touchpoint == Touchpoint(
        "e1", "article_view", AT, CustomerRef(None, "a@example.com"), None, "7"
    )
    assert hash(ref) == hash(CustomerRef(email="a@example.com"))
    assert pickle.loads(pickle.dumps(touchpoint)) == touchpoint
    assert dataclasses.replace(touchpoint, id="e2").id == "e2"
    with pytest.raises(dataclasses.FrozenInstanceError):
        touchpoint.id = "e3"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.email = "b@example.com"  # type: ignore[misc]
