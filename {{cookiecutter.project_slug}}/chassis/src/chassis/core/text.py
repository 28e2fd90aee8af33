"""`StorableText`: a `str` for request models that Postgres (and UTF-8) can store.

Postgres `text` cannot hold NUL (`\\u0000`), and a lone surrogate (`\\ud800`, which JSON allows)
cannot be encoded as UTF-8. Accepted, either one fails later, in the worker or at the insert;
refused here, it is a 422 naming the field.
"""

from typing import Annotated

from pydantic import AfterValidator


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000)")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must not contain unpaired surrogates") from None
    return value


StorableText = Annotated[str, AfterValidator(_storable)]
