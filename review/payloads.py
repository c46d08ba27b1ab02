"""Reading request bodies from gateways: size caps enforced while reading, gzip decoded in a
stream, JSON or newline-delimited JSON parsed.

A body over the raw cap, or one that inflates past the decoded cap (a gzip bomb), is refused as
soon as the cap is crossed, so memory never holds more than the caps allow.
"""

import zlib
from typing import Any

import orjson
from django.http import HttpRequest

from review.api_errors import BadBody, BodyTooLarge, UnsupportedEncoding

CHUNK = 64 * 1024
# zlib's window bits per Content-Encoding: gzip framing, or the zlib framing HTTP calls deflate.
WINDOW_BITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def read_body(request: HttpRequest, *, max_raw: int, max_decoded: int) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > max_raw:
        raise BodyTooLarge(f"the body is {declared} bytes; the limit is {max_raw}")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding not in ("", "identity", *WINDOW_BITS):
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported; use gzip")
    inflater = zlib.decompressobj(WINDOW_BITS[encoding]) if encoding in WINDOW_BITS else None
    parts: list[bytes] = []
    raw_size = decoded_size = 0
    while chunk := request.read(CHUNK):
        raw_size += len(chunk)
        if raw_size > max_raw:
            raise BodyTooLarge(f"the body is over the limit of {max_raw} bytes")
        if inflater is None:
            parts.append(chunk)
            continue
        while chunk:
            try:
                # Never inflate more than one byte past what is still allowed.
                part = inflater.decompress(chunk, max_decoded - decoded_size + 1)
            except zlib.error as error:
                raise BadBody(f"the {encoding} body is corrupt: {error}") from None
            decoded_size += len(part)
            if decoded_size > max_decoded:
                raise BodyTooLarge(f"the body inflates past the limit of {max_decoded} bytes")
            parts.append(part)
            chunk = inflater.unconsumed_tail
    if inflater is not None and raw_size and not inflater.eof:
        raise BadBody(f"the {encoding} body is truncated")
    return b"".join(parts)


def parse_json(body: bytes) -> Any:
    """One JSON document."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadBody(f"the body is not JSON: {error}") from None


def parse_json_records(body: bytes) -> list[Any]:
    """A JSON array, a single JSON object, or newline-delimited JSON objects, as a list."""
    if not body.strip():
        raise BadBody("the body is empty")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        lines = [line for line in body.splitlines() if line.strip()]
        if len(lines) < 2:
            raise BadBody(f"the body is not JSON: {error}") from None
        try:
            return [orjson.loads(line) for line in lines]
        except orjson.JSONDecodeError:
            raise BadBody(f"the body is neither JSON nor newline-delimited JSON: {error}") from None
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise BadBody("the body must be a JSON object or an array of objects")
