"""Typed records to JSON values and back, by their type hints.

Why: a bundle's metadata is dataclasses and enums (its metrics, training configuration,
thresholds), and it must come back from `bundle.json` with the same types it was written
with, so a run can be repeated from its bundle (a Path stays a Path, None stays None, a
tuple stays a tuple; no `str(value)`). The mapping is plain: dataclass <-> object,
Enum <-> its value, Path <-> string, tuple/list <-> array, dict/Mapping <-> object.
NaN floats stay NaN (`json` writes them as NaN). Unknown or missing fields are errors
that name the record and the field. (pydantic would do most of this, but writes NaN as
null and cannot write read-only mappings.)
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def to_json(value: Any) -> Any:
    """A JSON-ready copy of `value` (dataclasses, enums, paths, tuples, mappings, numbers)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(to_json(k)): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(x) for x in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_json(tp: Any, data: Any, where: str = "") -> Any:
    """`data` (parsed JSON) as a value of type `tp`; ValueError naming the place otherwise."""
    where = where or getattr(tp, "__name__", str(tp))
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return from_json(option, data, where)
            except (TypeError, ValueError) as err:
                errors.append(str(err))
        raise ValueError(f"{where}: {data!r} fits none of {options} ({'; '.join(errors)})")
    if dataclasses.is_dataclass(tp):
        return _record(tp, data, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise ValueError(f"{where}: {data!r} is not one of {[e.value for e in tp]}") from None
    if tp is Path:
        return Path(_check(str, data, where))
    if origin in (list, tuple) or tp in (list, tuple):
        items = _check((list, tuple), data, where)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                raise ValueError(f"{where}: expected {len(args)} items, got {len(items)}")
            return tuple(from_json(a, x, f"{where}[{i}]") for i, (a, x) in enumerate(zip(args, items)))
        inner = args[0] if args else Any
        out = [from_json(inner, x, f"{where}[{i}]") for i, x in enumerate(items)]
        return tuple(out) if (origin or tp) is tuple else out
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        key_t, value_t = args or (Any, Any)
        return {from_json(key_t, k, where): from_json(value_t, v, f"{where}[{k!r}]")
                for k, v in _check(dict, data, where).items()}
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ValueError(f"{where}: {data!r} is not a number")
        return float(data)
    if tp in (int, str, bool):
        if tp is int and isinstance(data, bool):
            raise ValueError(f"{where}: {data!r} is not {NAMES[int]}")
        return _check(tp, data, where)
    raise TypeError(f"{where}: no JSON form for type {tp!r}")


NAMES = {int: "an integer", str: "a string", bool: "true or false", dict: "an object", (list, tuple): "a list"}


def _check(tp, data, where: str):
    if not isinstance(data, tp):
        raise ValueError(f"{where}: {data!r} is not {NAMES.get(tp, tp)}")
    return data


def _record(cls: type, data: Any, where: str) -> Any:
    data = _check(dict, data, where)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(fields)}")
    missing = [n for n, f in fields.items() if n not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    hints = _hints(cls)
    return cls(**{n: from_json(hints[n], v, f"{where}.{n}") for n, v in data.items()})
