"""``records.record`` behaves as ``@dataclass(frozen=True)`` does, only built with less ``exec`` (#13).

Each class is built twice from the same body, once with ``record`` and once with
``dataclasses.dataclass(frozen=True, ...)``, and everything a caller can observe is compared:
fields and parameters, ``__init__``'s signature and annotations, defaults and factories,
``repr``, equality, hashing, ordering, frozenness, ``replace``, ``asdict``, pickling,
``__match_args__`` and the docstring. Every class of ``portpolicy.model`` is compared the same
way, rebuilt from its own fields.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import sys
from collections.abc import Callable
from typing import Any

import pytest

from portpolicy import model
from portpolicy.records import record


def _body() -> dict[str, Any]:
    """A class body using every field feature the model uses, and a few more."""

    def describe(self: Any) -> str:
        return f"{self.name}@{self.port}"

    return {
        "__annotations__": {
            "name": "str",
            "port": "int",
            "tags": "tuple[str, ...]",
            "extra": "list[int]",
            "note": "str",
            "kind": "str",
            "shown": "ClassVar[int]",
        },
        "__module__": __name__,
        "__qualname__": "Sample",
        "__doc__": "A sample record.",
        "port": 80,
        "tags": (),
        "extra": dataclasses.field(default_factory=list, compare=False),
        "note": dataclasses.field(default="", repr=False, hash=False),
        "kind": dataclasses.field(default="sample", init=False),
        "shown": 3,
        "describe": describe,
    }


def build(decorate: Callable[[type], type], body: dict[str, Any], name: str = "Sample") -> type:
    return decorate(type(name, (), dict(body)))


def observed(cls: type, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Everything a caller can see of ``cls`` and of an instance built with these arguments."""
    obj = cls(*args, **kwargs)
    twin = cls(*args, **kwargs)
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    seen: dict[str, Any] = {
        "fields": [
            (f.name, f.type, f.default, f.default_factory, f.init, f.repr, f.hash, f.compare)
            for f in dataclasses.fields(cls)
        ],
        "params": {k: getattr(params, k) for k in ("init", "repr", "eq", "order", "unsafe_hash", "frozen")},
        "signature": str(inspect.signature(cls)),
        "annotations": cls.__init__.__annotations__,  # type: ignore[misc]
        "match_args": cls.__match_args__,  # type: ignore[attr-defined]
        "doc": cls.__doc__,
        "repr": repr(obj),
        "dict": dict(vars(obj)),
        "eq": (obj == twin, obj != twin, obj == object(), obj.__eq__(object())),
        "hash": None if cls.__hash__ is None else hash(obj) == hash(twin),
        "asdict": dataclasses.asdict(obj),
        "is_dataclass": dataclasses.is_dataclass(cls),
        "class_attrs": {k: v for k, v in vars(cls).items() if not callable(v) and not k.startswith("__")},
        "qualnames": {
            n: getattr(cls, n).__qualname__.split(".")[-1] for n in ("__init__", "__repr__", "__eq__")
        },
    }
    if getattr(sys.modules[cls.__module__], cls.__name__, None) is cls:  # importable: picklable
        copy = pickle.loads(pickle.dumps(obj))
        seen["pickled"] = (copy == obj, vars(copy) == vars(obj))
    if params.frozen:
        with pytest.raises(dataclasses.FrozenInstanceError) as assigned:
            obj.anything = 1
        with pytest.raises(dataclasses.FrozenInstanceError) as deleted:
            del obj.anything
        seen["frozen"] = (str(assigned.value), str(deleted.value))
    else:
        obj.anything = 1
        seen["assigned"] = vars(obj).pop("anything")
    return seen


def test_a_record_is_observably_the_frozen_dataclass() -> None:
    body = _body()
    ours = build(record, body)
    theirs = build(dataclasses.dataclass(frozen=True), body)
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        (("web",), {}),
        (("web", 443), {"tags": ("a",), "note": "n"}),
        ((), {"name": "x", "port": 0}),
    ]
    for args, kwargs in cases:
        assert observed(ours, *args, **kwargs) == observed(theirs, *args, **kwargs)
    fresh = build(record, body)
    assert str(inspect.signature(fresh)) == str(inspect.signature(theirs))  # before __init__ is compiled
    assert vars(fresh)["__init__"].__qualname__ == "Sample.__init__"
    assert "args" in vars(fresh)["__init__"].__code__.co_varnames  # the stub, until the first instance
    fresh("a")
    assert "args" not in vars(fresh)["__init__"].__code__.co_varnames
    stub = vars(fresh)["__eq__"]
    assert fresh("a") == fresh("a") and vars(fresh)["__eq__"] is not stub  # compiled on first use, then kept
    assert vars(fresh)["__eq__"].__qualname__ == "Sample.__eq__"
    a, b = ours("a", extra=[1]), ours("a", extra=[2])
    assert a == b and hash(a) == hash(b)  # extra is compare=False
    assert ours("a", note="x") != ours("a", note="y")
    assert hash(ours("a", note="x")) == hash(ours("a", note="y"))  # note is hash=False
    assert ours("a").extra is not ours("a").extra  # a fresh list from the factory each time
    assert dataclasses.replace(ours("a", 1), port=2) == ours("a", 2)
    assert ours("a").describe() == "a@80" and ours.shown == 3  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        ours("a", kind="other")  # init=False


def test_a_mutable_record_is_observably_the_dataclass() -> None:
    body = _body()
    ours = build(record(frozen=False), body)
    theirs = build(dataclasses.dataclass, body)
    for args in [("web",), ("web", 443, ("a",)), ("x", 0, (), [1], "n")]:
        assert observed(ours, *args) == observed(theirs, *args)
    obj = ours("a")
    obj.port = 8080
    assert obj == ours("a", 8080) and ours.__hash__ is None
    ordered = build(record(order=True, frozen=False), body)
    assert observed(ordered, "a") == observed(build(dataclasses.dataclass(order=True), body), "a")
    with pytest.raises(TypeError):
        hash(obj)


def test_order_compares_as_the_dataclass_does() -> None:
    body = {"__annotations__": {"path": "str", "line": "int"}, "__module__": __name__, "line": 1}
    ours = build(record(order=True), body, "Loc")
    theirs = build(dataclasses.dataclass(frozen=True, order=True), body, "Loc")
    values = [("b", 2), ("a", 3), ("a", 1), ("b", 2)]
    assert [(o.path, o.line) for o in sorted(ours(*v) for v in values)] == [
        (t.path, t.line) for t in sorted(theirs(*v) for v in values)
    ]
    x, y = ours("a", 1), ours("a", 2)
    assert (x < y, x <= y, x > y, x >= y, x <= x) == (True, True, False, False, True)
    assert observed(ours, "a") == observed(theirs, "a")
    with pytest.raises(TypeError):
        _ = x < theirs("a", 1)


def test_no_docstring_one_field_no_field_and_a_field_named_self() -> None:
    cases: list[tuple[dict[str, Any], tuple[Any, ...]]] = [
        ({"__annotations__": {"only": "int"}, "__module__": __name__}, (5,)),
        ({"__annotations__": {}, "__module__": __name__}, ()),
        ({"__annotations__": {"self": "str", "x": "int"}, "__module__": __name__, "x": 2}, ("me",)),
    ]
    for body, args in cases:
        ours, theirs = build(record, body, "Bare"), build(dataclasses.dataclass(frozen=True), body, "Bare")
        assert observed(ours, *args) == observed(theirs, *args)


def test_explicit_hash_eq_repr_and_post_init_are_kept() -> None:
    calls: list[str] = []

    def post(self: Any) -> None:
        calls.append("post")

    body = {
        "__annotations__": {"a": "int"},
        "__module__": __name__,
        "__hash__": lambda self: 7,
        "__repr__": lambda self: "mine",
        "__post_init__": post,
    }
    ours, theirs = build(record, body, "Own"), build(dataclasses.dataclass(frozen=True), body, "Own")
    assert observed(ours, 1) == observed(theirs, 1)
    assert hash(ours(1)) == 7 and repr(ours(1)) == "mine" and calls.count("post") >= 2


def test_refused_shapes() -> None:
    with pytest.raises(TypeError, match="non-default argument"):
        build(record, {"__annotations__": {"a": "int", "b": "int"}, "a": 1, "__module__": __name__})
    with pytest.raises(TypeError, match="Cannot overwrite"):
        build(
            record,
            {"__annotations__": {"a": "int"}, "__setattr__": lambda s, n, v: None, "__module__": __name__},
        )
    base = build(
        dataclasses.dataclass(frozen=True), {"__annotations__": {"a": "int"}, "__module__": __name__}
    )
    with pytest.raises(TypeError, match="inherit"):
        record(type("Child", (base,), {"__annotations__": {"b": "int"}, "b": 0, "__module__": __name__}))
    with pytest.raises(TypeError, match="keyword-only"):
        build(
            record,
            {"__annotations__": {"a": "int"}, "a": dataclasses.field(kw_only=True), "__module__": __name__},
        )


def _rebuilt(cls: type) -> type:
    """``cls``'s fields in a fresh ``@dataclass(frozen=True)`` class of the same name."""
    body: dict[str, Any] = {"__annotations__": {}, "__module__": cls.__module__, "__doc__": cls.__doc__}
    for f in dataclasses.fields(cls):
        body["__annotations__"][f.name] = f.type
        body[f.name] = dataclasses.field(
            default=f.default,
            default_factory=f.default_factory,
            init=f.init,
            repr=f.repr,
            hash=f.hash,
            compare=f.compare,
            metadata=f.metadata,
        )
    for name in ("__str__", "__bool__", "__iter__"):
        if name in vars(cls):
            body[name] = vars(cls)[name]
    order = cls.__dataclass_params__.order  # type: ignore[attr-defined]
    return dataclasses.dataclass(frozen=True, order=order)(type(cls.__name__, (), body))


MODEL_CLASSES = [c for c in vars(model).values() if isinstance(c, type) and dataclasses.is_dataclass(c)]


def _required(cls: type) -> tuple[Any, ...]:
    """Positional arguments for the fields without a default: a location, a port range, else a string."""
    values = {"location": model.Location("a.yml", 2, 3), "ports": model.PortRange(80, 81)}
    return tuple(
        values.get(f.name, f"v-{f.name}")
        for f in dataclasses.fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_every_model_class_is_the_dataclass_it_was(cls: type) -> None:
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    twin = _rebuilt(cls)
    args = _required(cls)
    ours, theirs = observed(cls, *args), observed(twin, *args)
    ours.pop("class_attrs"), theirs.pop("class_attrs")  # methods and properties are the model's own
    assert ours.pop("pickled") == (True, True)  # the twin is not importable, so not picklable
    assert ours == theirs
