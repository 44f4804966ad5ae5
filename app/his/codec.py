"""JSON shapes of the HIS contract: dataclasses <-> plain JSON values, both directions.

Dates are ISO 8601 strings ("2025-03-01", "2025-03-01T08:30:00", hospital local time, no offset);
money stays integer fen.  Used by the HTTP server and the HTTP adapter so both speak one shape.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_plain(value: Any) -> Any:
    """A JSON-serialisable copy of a dataclass / tuple / date value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class DecodeError(ValueError):
    """The JSON value does not have the contract's shape."""


def from_plain(tp: Any, value: Any) -> Any:
    """Rebuild a value of type ``tp`` (dataclass, tuple[X, ...], Mapping, Optional, date...)."""
    if tp is type(None):
        if value is not None:
            raise DecodeError(f"expected null, got {value!r}")
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return from_plain(inner[0], value)
    if origin is typing.Literal:
        if value not in args:
            raise DecodeError(f"{value!r} is not one of {args}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise DecodeError(f"expected an object for {tp.__name__}")
        hints = _hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in value:
                kwargs[f.name] = from_plain(hints[f.name], value[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DecodeError(f"{tp.__name__}.{f.name} is missing")
        return tp(**kwargs)
    if origin is tuple:
        if not isinstance(value, list):
            raise DecodeError("expected a list")
        return tuple(from_plain(args[0], v) for v in value)
    if origin in (dict, Mapping, typing.Mapping):
        if not isinstance(value, dict):
            raise DecodeError("expected an object")
        return {str(k): from_plain(args[1], v) for k, v in value.items()}
    if tp is dt.datetime:
        return dt.datetime.fromisoformat(_text(value))
    if tp is dt.date:
        return dt.date.fromisoformat(_text(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise DecodeError("expected a boolean")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise DecodeError(f"expected an integer, got {value!r}")
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):  # a status of the contract (a StrEnum)
        try:
            return tp(value)
        except ValueError:
            raise DecodeError(f"{value!r} is not one of {tuple(m.value for m in tp)}") from None
    if tp is str:
        return _text(value)
    raise DecodeError(f"unsupported type {tp!r}")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise DecodeError(f"expected a string, got {value!r}")
    return value
