"""Dataclasses that compile their methods on first use instead of at import (#13).

A one-file check creates every class of ``portpolicy.model`` at import, and
``@dataclass(frozen=True)`` compiles six methods per class with ``exec`` (``__init__``,
``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``; ``order=True``
four more): about half of the model's import time, for methods most classes never use in
a one-file check. ``record`` is the same class, made cheaper: ``dataclasses`` still
collects the fields (so ``fields``, ``replace``, ``asdict`` and ``is_dataclass`` work, and
``__dataclass_params__`` says ``frozen``, ``eq``, ``repr`` and ``order`` as before);
``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and the order methods are compiled
from the text ``dataclasses`` writes on their first call (then they replace themselves,
so a large scan runs the very methods ``dataclasses`` would have made; until then
``__init__`` carries its real ``__signature__``); ``__setattr__`` and ``__delattr__``,
which only raise, are shared closures. ``record(frozen=False)`` is ``@dataclass``: a plain ``__init__``, no ``__hash__``.
``tests/test_records.py`` compares every model class with the dataclass it was.

Not supported (a class that needs them keeps ``@dataclass``): ``InitVar`` and keyword-only
fields, ``slots``, inheriting from a dataclass.
"""

from __future__ import annotations

import dataclasses
import sys
from _thread import get_ident
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        """The type checker's marker (``typing.dataclass_transform``, 3.11+): nothing at run time."""
        return lambda decorated: decorated


T = TypeVar("T", bound=type)

_FACTORY = getattr(dataclasses, "_HAS_DEFAULT_FACTORY")  # noqa: B009 - the marker dataclasses' __init__ uses
_INITVAR = getattr(dataclasses, "_FIELD_INITVAR")  # noqa: B009
_ORDER = (("__lt__", "<"), ("__le__", "<="), ("__gt__", ">"), ("__ge__", ">="))


@overload
def record(cls: T, /) -> T: ...
@overload
def record(*, order: bool = False, frozen: bool = True) -> Callable[[T], T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: Any = None, /, *, order: bool = False, frozen: bool = True) -> Any:
    """``@dataclass(frozen=True)`` (``order=True``, ``frozen=False`` as asked), with one ``exec`` at import."""

    def wrap(cls: T) -> T:
        built: T = _process(cls, order, frozen)
        return built

    return wrap if cls is None else wrap(cls)


def _process(cls: Any, order: bool, frozen: bool) -> Any:
    own = cls.__dict__
    if any(getattr(base, "__dataclass_fields__", None) is not None for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__name__}: a record cannot inherit from a dataclass; use @dataclass")
    for name in (*(("__setattr__", "__delattr__") if frozen else ()), *(n for n, _ in _ORDER if order)):
        if name in own:
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    class_hash = own.get("__hash__", dataclasses.MISSING)
    explicit_hash = not (class_hash is dataclasses.MISSING or (class_hash is None and "__eq__" in own))
    had_doc = bool(getattr(cls, "__doc__", None))
    if not had_doc:
        cls.__doc__ = "-"  # dataclasses would ask inspect for a signature __init__ does not have yet
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False)
    every = list(cls.__dataclass_fields__.values())
    if any(
        getattr(f, "_field_type", None) is _INITVAR or getattr(f, "kw_only", False) is True for f in every
    ):
        raise TypeError(f"{cls.__name__}: InitVar and keyword-only fields need @dataclass")
    fields = dataclasses.fields(cls)
    if "__init__" not in own:
        _set(cls, _lazy_init(cls, fields, frozen))
    if "__repr__" not in own:
        shown = ", ".join(f"{f.name}={{self.{f.name}!r}}" for f in fields if f.repr)
        _set(cls, _lazy(cls, "__repr__", ['return self.__class__.__qualname__ + f"(' + shown + ')"']))
    compared = [f for f in fields if f.compare]
    ours, theirs = _tuple("self", compared), _tuple("other", compared)
    if "__eq__" not in own:
        _set(cls, _lazy(cls, "__eq__", _compare(ours, "==", theirs), "other"))
    if order:
        for name, op in _ORDER:
            _set(cls, _lazy(cls, name, _compare(ours, op, theirs), "other"))
    if frozen:
        for method in _frozen(cls, tuple(f.name for f in fields)):
            _set(cls, method)
    if not explicit_hash and frozen:
        hashed = [f for f in fields if (f.compare if f.hash is None else f.hash)]
        _set(cls, _lazy(cls, "__hash__", [f"return hash({_tuple('self', hashed)})"]))
    elif not explicit_hash:  # eq without frozen: unhashable, as dataclasses makes it
        cls.__hash__ = None
    params = cls.__dataclass_params__
    params.init = params.repr = params.eq = True
    params.order, params.frozen = order, frozen
    if not had_doc:
        import inspect  # only for a class without a docstring, as dataclasses does

        try:
            signature = str(inspect.signature(cls)).replace(" -> None", "")
        except (TypeError, ValueError):  # pragma: no cover - as dataclasses
            signature = ""
        cls.__doc__ = cls.__name__ + signature
    return cls


def _set(cls: Any, fn: Any) -> None:
    fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
    fn.__module__ = cls.__module__
    setattr(cls, fn.__name__, fn)


def _compiled(cls: Any, name: str, params: list[str], body: list[str], names: dict[str, Any]) -> Any:
    """One function from its text, as ``dataclasses._create_fn`` builds it (module globals, ``names`` as locals)."""
    text = (
        f"def __create_fn__({', '.join(names)}):\n"
        f" def {name}({','.join(params)}){'->_return_type' if '_return_type' in names else ''}:\n"
        + "\n".join(f"  {line}" for line in body)
        + f"\n return {name}"
    )
    # dont_inherit: this module's ``from __future__ import annotations`` would turn
    # annotations into the names of the locals that hold them
    code = compile(text, "<string>", "exec", dont_inherit=True)
    module = sys.modules.get(cls.__module__)
    scope: dict[str, Any] = {}
    exec(code, module.__dict__ if module else {}, scope)
    return scope["__create_fn__"](**names)


def _lazy(cls: Any, name: str, body: list[str], *params: str) -> Any:
    """A method compiled on its first call: a one-file check calls few of them, a large scan many times."""

    def stub(self: Any, *args: Any) -> Any:
        method = _compiled(cls, name, ["self", *params], body, {})
        if name == "__repr__":
            method = _recursion_guarded(method)
        _set(cls, method)
        return method(self, *args)

    stub.__name__ = name
    return stub


def _tuple(obj: str, fields: list[dataclasses.Field[Any]]) -> str:
    return f"({','.join(f'{obj}.{f.name}' for f in fields)},)" if fields else "()"


def _compare(ours: str, op: str, theirs: str) -> list[str]:
    return ["if other.__class__ is self.__class__:", f" return {ours}{op}{theirs}", "return NotImplemented"]


def _lazy_init(cls: Any, fields: tuple[dataclasses.Field[Any], ...], frozen: bool) -> Any:
    """``__init__`` compiled on the first instance; until then a stub with the real signature.

    Most classes of a one-file check's modules are never instantiated in it. The stub's
    ``__signature__`` is what ``inspect.signature`` reads, so the class's signature (and the
    docstring dataclasses derives from it) is the compiled ``__init__``'s.
    """
    _check_defaults(fields)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        method = _init(cls, fields, frozen)
        _set(cls, method)
        method(self, *args, **kwargs)

    __init__.__signature__ = _signature(fields)  # type: ignore[attr-defined]
    return __init__


def _signature(fields: tuple[dataclasses.Field[Any], ...]) -> Any:
    from inspect import Parameter, Signature  # loaded already: dataclasses imports inspect

    self_name = "__dataclass_self__" if any(f.name == "self" for f in fields) else "self"
    params = [Parameter(self_name, Parameter.POSITIONAL_OR_KEYWORD)]
    for f in fields:
        if not f.init:
            continue
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = _FACTORY
        if default is dataclasses.MISSING:
            default = Parameter.empty
        params.append(Parameter(f.name, Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=f.type))
    return Signature(params, return_annotation=None)


def _check_defaults(fields: tuple[dataclasses.Field[Any], ...]) -> None:
    seen_default = False
    for f in fields:
        if f.init:
            if not (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING):
                seen_default = True
            elif seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")


def _init(cls: Any, fields: tuple[dataclasses.Field[Any], ...], frozen: bool) -> Any:
    """``__init__`` from the text dataclasses writes (Python 3.10-3.12)."""
    self_name = "__dataclass_self__" if any(f.name == "self" for f in fields) else "self"
    names: dict[str, Any] = {f"_type_{f.name}": f.type for f in fields}
    names.update({"_HAS_DEFAULT_FACTORY": _FACTORY, "__dataclass_builtins_object__": object})
    body = []
    for f in fields:
        dflt = f"_dflt_{f.name}"
        if f.default_factory is not dataclasses.MISSING:
            names[dflt] = f.default_factory
            value = f"{dflt}() if {f.name} is _HAS_DEFAULT_FACTORY else {f.name}" if f.init else f"{dflt}()"
        elif f.init:
            if f.default is not dataclasses.MISSING:
                names[dflt] = f.default
            value = f.name
        else:
            continue  # a field outside __init__ with a plain default reads the class attribute
        if frozen:
            body.append(f"__dataclass_builtins_object__.__setattr__({self_name},{f.name!r},{value})")
        else:
            body.append(f"{self_name}.{f.name}={value}")
    params = [self_name]
    for f in fields:
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            params.append(f"{f.name}:_type_{f.name}=_dflt_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            params.append(f"{f.name}:_type_{f.name}=_HAS_DEFAULT_FACTORY")
        else:
            params.append(f"{f.name}:_type_{f.name}")
    if hasattr(cls, "__post_init__"):
        body.append(f"{self_name}.__post_init__()")
    names["_return_type"] = None
    return _compiled(cls, "__init__", params, body or ["pass"], names)


def _recursion_guarded(method: Callable[[Any], str]) -> Any:
    """``repr`` of an object that contains itself shows ``...`` there, as dataclasses' does."""
    running: set[tuple[int, int]] = set()

    def __repr__(self: Any) -> str:
        key = (id(self), get_ident())
        if key in running:
            return "..."
        running.add(key)
        try:
            return method(self)
        finally:
            running.discard(key)

    return __repr__


def _frozen(cls: Any, names: tuple[str, ...]) -> tuple[Any, Any]:
    fields = frozenset(names)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in fields:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in fields:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return __setattr__, __delattr__
