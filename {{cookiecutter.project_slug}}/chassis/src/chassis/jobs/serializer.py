"""msgpack job serializer: arq's default, pickle, lets anyone who can write to Redis run code."""

from datetime import datetime
from typing import Any

import msgpack

ERROR_MARKER = "__error__"


def _encode(value: Any) -> Any:
    if isinstance(value, BaseException):
        # arq stores the exception of a failed job as its result; keep its type and message.
        return {ERROR_MARKER: type(value).__name__, "message": str(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__} into a job; pass plain data")


def serialize(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, default=_encode, use_bin_type=True)
    return packed


def deserialize(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def describe_error(value: Any) -> str | None:
    """The 'Type: message' text of an error that went through `serialize`, else None."""
    if isinstance(value, dict) and ERROR_MARKER in value:
        message = value.get("message") or ""
        return f"{value[ERROR_MARKER]}: {message}" if message else str(value[ERROR_MARKER])
    return None
