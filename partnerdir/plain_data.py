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
    # pydantic's own slots, set as model_construct sets them (frozen models refuse setattr)
    slots = BaseModel.__dict__
    every = tuple(sorted(names))  # the fields set of a model built with all of them, mostly
    made = _compiled(cls, names, parts, "values = [{gets}]\n"
                     "    fields_set = obj.__pydantic_fields_set__\n"
                     "    # sorted: the same in every process\n"
                     "    return values, every if len(fields_set) == len(every) \\\n"
                     "        else tuple(sorted(fields_set))",
                     "obj = new(cls)\n"
                     "    setter(obj, '__dict__', {{{sets}}})\n"
                     "    set_fields(obj, set(data[1]))\n"
                     "    set_extra(obj, None)\n"
                     "    set_private(obj, None)\n"
                     "    return obj",
                     read="obj.__dict__[{name!r}]", values="data[0]", every=every,
                     setter=object.__setattr__, set_fields=slots["__pydantic_fields_set__"].__set__,
                     set_extra=slots["__pydantic_extra__"].__set__,
                     set_private=slots["__pydantic_private__"].__set__)
    _CODECS[cls] = made
    return made


def _dataclass_codec(cls: type) -> Codec:
    if cls in _CODECS:
        return _CODECS[cls]
    hints = typing.get_type_hints(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))
    parts = [_codec(hints[n]) for n in names]
    made = _compiled(cls, names, parts, "return [{gets}]",
                     "obj = new(cls)\n"
                     "    obj.__dict__.update({{{sets}}})\n"
                     "    return obj",
                     read="obj.{name}", values="data")
    _CODECS[cls] = made
    return made


def _compiled(cls: type, names: tuple[str, ...], parts: list[Codec], encoding: str, decoding: str,
              read: str, values: str, **context: Any) -> Codec:
    """An encoder and a decoder written out for `cls`'s fields, as `dataclasses` writes its
    methods: each field read or set by name in one expression, and only the fields marshal
    cannot keep as they are (dates, nested models) through their own codec. Building a dict
    from the names and values and then decoding the special fields in a loop took 56 us a
    partner of the benchmark (10 certifications, 11 projects), this 34 us: every partner page
    of a build decodes its partner."""
    namespace: dict[str, Any] = {"new": cls.__new__, "cls": cls, "count": len(names), **context}
    gets, sets = [], []
    for i, (name, (encode, decode)) in enumerate(zip(names, parts, strict=True)):
        field = read.format(name=name)
        if encode is _same:
            gets.append(field)
            sets.append(f"{name!r}: v[{i}]")
        else:
            namespace[f"e{i}"], namespace[f"d{i}"] = encode, decode
            gets.append(f"e{i}({field})")
            sets.append(f"{name!r}: d{i}(v[{i}])")
    source = (f"def encode(obj):\n    {encoding.format(gets=', '.join(gets))}\n\n"
              f"def decode(data):\n    v = {values}\n"
              "    if len(v) != count:\n"
              "        raise ValueError(f'{len(v)} values for {count} fields')\n"
              f"    {decoding.format(sets=', '.join(sets))}\n")
    exec(compile(source, f"<plain_data {cls.__qualname__}>", "exec"), namespace)
    return namespace["encode"], namespace["decode"]


def codec(cls: type) -> Codec:
    """(encode, decode) for a pydantic model or dataclass: object <-> marshal-able tuples.
    (Asked for once a record by the cache's encoder: found without `_codec`'s type tests.)"""
    made = _CODECS.get(cls)
    return made if made is not None else _codec(cls)


def field_decoders(cls: type[BaseModel]) -> dict[str, Callable[[Any], Any]]:
    """Each field's own decoder, for a reader that decodes a model's fields one by one
    (`cache.StoredPartner`) from the values `codec(cls)` encodes."""
    return {name: _codec(info.annotation)[1] for name, info in cls.model_fields.items()}
