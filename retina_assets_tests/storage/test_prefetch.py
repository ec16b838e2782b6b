"""``prefetch`` produces the batches of a write in a background thread without changing them: every item in
order, the producer's exception re-raised in the consumer, and the producer closed when the consumer stops."""

from __future__ import annotations

import threading

import pytest

from retina_assets.storage.versioned_store import prefetch


def test_prefetch_yields_everything_in_order() -> None:
    assert list(prefetch(iter(range(100)), depth=2)) == list(range(100))  # type: ignore[arg-type]


def test_prefetch_reraises_the_producers_exception() -> None:
    class Boom(ValueError):
        pass

    def source():
        yield 1
        yield 2
        raise Boom("drop.csv: bad block")

    got = []
    with pytest.raises(Boom, match="drop.csv: bad block"):
        for item in prefetch(source()):  # type: ignore[arg-type]
            got.append(item)
    assert got == [1, 2]


def test_prefetch_stops_and_closes_the_producer_when_the_consumer_stops() -> None:
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    stream = prefetch(endless(), depth=2)  # type: ignore[arg-type]
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert closed.wait(5)
