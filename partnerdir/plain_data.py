"""Checked partners, awards and views as plain data that `marshal` stores, and back again.

The on-disk cache (`record_cache`) keeps every checked record between `build` processes. Pickle
would do it, but unpickling a pydantic partner costs more than validating its record again;
here each model or dataclass becomes a tuple of its fields (dates as day numbers), and comes
back through the constructor pydantic's own `model_construct` uses, without validation: the
values were validated when the record was checked, and the cache key holds everything that
checking depends on. Field lists are read from the classes, so a changed model changes the
code version (part of every cache key) and is never decoded with an old plan.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _same(value: Any) -> Any:
    return value


_PLAIN = (str, int, float, bool, type(None), bytes)


def _codec(tp: Any) -> Codec:
    """How to encode and decode a value of type `tp` (identity where marshal keeps it as is)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _codec(typing.get_args(tp)[0])
    if tp is dt.date:
        return dt.date.toordinal, dt.date.fromordinal
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _model_codec(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_codec(tp)
    if isinstance(tp, type) and issubclass(tp, _PLAIN):
        return _same, _same
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) != 1:
            if all(_codec(a)[0] is _same for a in options):
                return _same, _same
            raise TypeError(f"no plain form for {tp!r}")
        enc, dec = _codec(options[0])
        if enc is _same:
            return _same, _same
        return (lambda v: None if v is None else enc(v)), (lambda v: None if v is None else dec(v))
    if origin in (list, tuple, frozenset, set):
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:  # a fixed tuple
            parts = [_codec(a) for a in args]
            if all(e is _same for e, _ in parts):
                return _same, _same
            return (lambda v: tuple(e(x) for (e, _), x in zip(parts, v, strict=True)),
                    lambda v: tuple(d(x) for (_, d), x in zip(parts, v, strict=True)))
        enc, dec = _codec(args[0]) if args else (_same, _same)
        if enc is _same:
            return _same, _same
        if origin is list:
            return (lambda v: [enc(x) for x in v]), (lambda v: [dec(x) for x in v])
        return (lambda v: [enc(x) for x in v]), (lambda v: origin([dec(x) for x in v]))
    if origin is dict:
        key, value = typing.get_args(tp)
        if _codec(key)[0] is _same and _codec(value)[0] is _same:
            return _same, _same
        raise TypeError(f"no plain form for {tp!r}")
    if tp is Any or tp is typing.Literal or origin is typing.Literal:
        return _same, _same
    raise TypeError(f"no plain form for {tp!r}")


_CODECS: dict[type, Codec] = {}


def _model_codec(cls: type[BaseModel]) -> Codec:
    if cls in _CODECS:
        return _CODECS[cls]
    names = tuple(cls.model_fields)
    parts = [_codec(cls.model_fields[n].annotation) for n in names]
    # Only fields that marshal cannot keep as they are need a call each way.
    special = [(i, n, e, d) for i, (n, (e, d)) in enumerate(zip(names, parts, strict=True)) if e is not _same]
    getter = operator.itemgetter(*names) if len(names) > 1 else lambda values: (values[names[0]],)
    # pydantic's own slots, set as model_construct sets them (frozen models refuse setattr)
    slots = BaseModel.__dict__
    set_fields = slots["__pydantic_fields_set__"].__set__
    set_extra = slots["__pydantic_extra__"].__set__
    set_private = slots["__pydantic_private__"].__set__
    setter = object.__setattr__
    new = cls.__new__

    every = tuple(sorted(names))  # the fields set of a model built with all of them, mostly

    def encode(obj: BaseModel) -> tuple:
        values = list(getter(obj.__dict__))
        for i, _, e, _ in special:
            values[i] = e(values[i])
        fields_set = obj.__pydantic_fields_set__
        # sorted: the same in every process
        return values, every if len(fields_set) == len(every) else tuple(sorted(fields_set))

    def decode(data: tuple) -> BaseModel:
        values, fields_set = data
        obj = new(cls)
        state = dict(zip(names, values, strict=True))
        for _, n, _, d in special:
            state[n] = d(state[n])
        setter(obj, "__dict__", state)
        set_fields(obj, set(fields_set))
        set_extra(obj, None)
        set_private(obj, None)
        return obj

    _CODECS[cls] = (encode, decode)
    return encode, decode


def _dataclass_codec(cls: type) -> Codec:
    if cls in _CODECS:
        return _CODECS[cls]
    hints = typing.get_type_hints(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))
    parts = [_codec(hints[n]) for n in names]
    special = [(i, n, e, d) for i, (n, (e, d)) in enumerate(zip(names, parts, strict=True)) if e is not _same]
    getter = operator.attrgetter(*names) if len(names) > 1 else lambda obj: (getattr(obj, names[0]),)
    new = cls.__new__

    def encode(obj: Any) -> list:
        values = list(getter(obj))
        for i, _, e, _ in special:
            values[i] = e(values[i])
        return values

    def decode(data: list) -> Any:
        obj = new(cls)
        state = obj.__dict__
        state.update(zip(names, data, strict=True))
        for _, n, _, d in special:
            state[n] = d(state[n])
        return obj

    _CODECS[cls] = (encode, decode)
    return encode, decode


def codec(cls: type) -> Codec:
    """(encode, decode) for a pydantic model or dataclass: object <-> marshal-able tuples.
    (Asked for once a record by the cache's encoder: found without `_codec`'s type tests.)"""
    made = _CODECS.get(cls)
    return made if made is not None else _codec(cls)


def field_decoders(cls: type[BaseModel]) -> dict[str, Callable[[Any], Any]]:
    """Each field's own decoder, for a reader that decodes a model's fields one by one
    (`cache.StoredPartner`) from the values `codec(cls)` encodes."""
    return {name: _codec(info.annotation)[1] for name, info in cls.model_fields.items()}
