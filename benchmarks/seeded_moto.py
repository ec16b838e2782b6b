"""A moto S3 server on 127.0.0.1 that can be filled quickly and lists like S3 does, for benchmarks of many
objects.

Usage: ``python -m benchmarks.seeded_moto PORT``. It serves S3 over HTTP like ``moto_server`` and prints
``ready``; then each line on its standard input, ``{"bucket": ..., "objects": [[key, text], ...]}``, is
stored through moto's own S3 backend (the call its HTTP ``PUT`` handler makes: the same objects, ETags and
listing entries) and answered with ``done``. Landing 100,000 objects takes seconds this way instead of the
~8 minutes of 100,000 HTTP PUTs to moto. Stops when its standard input closes.

Listing (``ListObjectsV2``) is answered from a sorted index of the bucket's key names, one page at a time,
with moto's own page contents, order and continuation tokens. Plain moto sorts every key of the bucket
for each page of 1,000: a listing of 100,000 keys costs it ~100 x 9 s, a quarter of an hour of moto's own
CPU, which would be all that a benchmark of a client listing them measured. S3 serves a page in about the
same time whatever the bucket holds, as this index does. Everything measured still goes over HTTP.
"""

from __future__ import annotations

import bisect
import json
import sys
from typing import Any

LAST_CHAR = "\U0010ffff"


class IndexedListing:
    """``list_objects_v2`` of a moto S3 backend from a sorted list of key names, rebuilt whenever the
    bucket's set of names changed (compared on every page: a set comparison, not a sort)."""

    def __init__(self, backend: Any):
        self.backend = backend
        self.cache: dict[str, tuple[set[str], list[str]]] = {}

    def sorted_names(self, bucket: Any) -> list[str]:
        cached = self.cache.get(bucket.name)
        if cached is None or cached[0] != bucket.keys.keys():
            names = set(bucket.keys.keys())
            cached = (names, sorted(names))
            self.cache[bucket.name] = cached
        return cached[1]

    def list_objects_v2(
        self,
        bucket: Any,
        prefix: str | None,
        delimiter: str | None,
        continuation_token: str | None,
        start_after: str | None,
        max_keys: int,
    ) -> Any:
        from moto.s3.models import FakeDeleteMarker

        names = self.sorted_names(bucket)
        prefix = prefix or ""
        after = self.backend._pagination_tokens.get(continuation_token) if continuation_token else start_after
        if after and delimiter and after.endswith(delimiter):
            index = bisect.bisect_left(names, after + LAST_CHAR)  # past the folder the last page ended on
        elif after:
            index = bisect.bisect_right(names, max(after, prefix))
        else:
            index = bisect.bisect_left(names, prefix)
        page: list[Any] = []
        while index < len(names) and len(page) <= max_keys:  # one more than a page: is there a next one?
            name = names[index]
            if not name.startswith(prefix):
                break
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                folder = prefix + rest.split(delimiter)[0] + delimiter
                page.append(folder)
                index = bisect.bisect_left(names, folder + LAST_CHAR)
                continue
            key = bucket.keys.get(name)
            if key is not None and not isinstance(key, FakeDeleteMarker):
                page.append(key)
            index += 1
        return self.backend._truncate_result(page, max_keys)


def main() -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.list_objects_v2 = IndexedListing(backend).list_objects_v2
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    print("ready", flush=True)
    for line in sys.stdin:
        order = json.loads(line)
        for key, text in order["objects"]:
            backend.put_object(order["bucket"], key, text.encode())
        print("done", flush=True)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
