"""CBOR (RFC 8949), the encoding of Pagefind's index files: the subset Pagefind writes.

The index stage rewrites two of Pagefind's files in a stable order (see index.py), so it must
read and write them byte for byte as Pagefind does: definite lengths, shortest integer heads,
unsigned integers, byte and text strings, arrays and maps. Anything else is refused rather than
guessed, and the caller checks that decoding and encoding a file gives back the same bytes.
"""

from __future__ import annotations


class CBORError(ValueError):
    pass


def loads(data: bytes) -> object:
    value, end = _decode(data, 0)
    if end != len(data):
        raise CBORError(f"{len(data) - end} bytes after the value")
    return value


def dumps(value: object) -> bytes:
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _decode(data: bytes, at: int) -> tuple[object, int]:
    if at >= len(data):
        raise CBORError("the data ends inside a value")
    major, info = data[at] >> 5, data[at] & 31
    at += 1
    if info < 24:
        n = info
    elif info <= 27:
        size = 1 << (info - 24)
        if at + size > len(data):
            raise CBORError("the data ends inside a length")
        n = int.from_bytes(data[at:at + size], "big")
        at += size
    else:
        raise CBORError(f"unsupported additional information {info} (indefinite lengths or floats)")
    if major == 0:
        return n, at
    if major in (2, 3):
        if at + n > len(data):
            raise CBORError("the data ends inside a string")
        raw = data[at:at + n]
        return (bytes(raw) if major == 2 else raw.decode("utf-8")), at + n
    if major == 4:
        items = []
        for _ in range(n):
            item, at = _decode(data, at)
            items.append(item)
        return items, at
    if major == 5:
        pairs = {}
        for _ in range(n):
            key, at = _decode(data, at)
            pairs[key], at = _decode(data, at)
        return pairs, at
    raise CBORError(f"unsupported major type {major}")


def _head(major: int, n: int, out: bytearray) -> None:
    if n < 24:
        out.append(major << 5 | n)
    elif n < 1 << 8:
        out += bytes([major << 5 | 24, n])
    elif n < 1 << 16:
        out.append(major << 5 | 25)
        out += n.to_bytes(2, "big")
    elif n < 1 << 32:
        out.append(major << 5 | 26)
        out += n.to_bytes(4, "big")
    else:
        out.append(major << 5 | 27)
        out += n.to_bytes(8, "big")


def _encode(value: object, out: bytearray) -> None:
    if isinstance(value, bool) or value is None:
        raise CBORError("booleans and null are not used in Pagefind's index")
    if isinstance(value, int):
        if value < 0:
            raise CBORError("negative integers are not used in Pagefind's index")
        _head(0, value, out)
    elif isinstance(value, bytes):
        _head(2, len(value), out)
        out += value
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        _head(3, len(raw), out)
        out += raw
    elif isinstance(value, list):
        _head(4, len(value), out)
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        _head(5, len(value), out)
        for key, item in value.items():
            _encode(key, out)
            _encode(item, out)
    else:
        raise CBORError(f"cannot encode {type(value).__name__}")
