"""The provenance facts: a spec document round-trips (column order included), code versions change only for
the assets whose part of the spec changed, and the environment fingerprint names code, lock and libraries."""

from __future__ import annotations

from retina_assets.catalog import load_clients
from retina_assets.model import provenance
from retina_assets.model.naming import FEATURES, RAW, REJECTED, VALIDATED
from retina_assets.settings import REPO_ROOT


def demo_spec():
    return next(s for s in load_clients(REPO_ROOT / "clients") if s.client == "demo")


def test_spec_document_round_trips_with_its_column_order() -> None:
    spec = demo_spec()
    again = provenance.spec_from_document(provenance.spec_document(spec))
    assert again == spec
    assert list(again.datasets["orders"].columns) == list(spec.datasets["orders"].columns)
    assert provenance.spec_sha256(again) == provenance.spec_sha256(spec)


def test_code_versions_follow_the_spec_part_each_asset_uses() -> None:
    spec = demo_spec()
    orders = spec.datasets["orders"]
    rules = {**orders.quality.rules, "reject_zero_price": False}
    ruled = spec.model_copy(
        update={
            "datasets": {
                "orders": orders.model_copy(
                    update={"quality": orders.quality.model_copy(update={"rules": rules})}
                )
            }
        }
    )
    reader = orders.reader.model_copy(update={"delimiter": ","})
    reread = spec.model_copy(update={"datasets": {"orders": orders.model_copy(update={"reader": reader})}})

    def versions(s):
        return {
            zone: provenance.stage_code_version(s, zone, "order_summary" if zone == FEATURES else "orders")
            for zone in (RAW, VALIDATED, REJECTED, FEATURES)
        }

    base, rule_change, reader_change = versions(spec), versions(ruled), versions(reread)
    assert base == versions(demo_spec())  # deterministic
    assert {z for z in base if base[z] != rule_change[z]} == {VALIDATED, REJECTED}
    assert {z for z in base if base[z] != reader_change[z]} == {RAW, VALIDATED, REJECTED}
    assert len(set(base.values())) == 4


def test_environment_fingerprint() -> None:
    env = provenance.environment()
    assert env["code"]["package"] == "retina_assets" and len(env["code"]["source_sha256"]) == 64
    assert env["code"]["git_commit"] and isinstance(env["code"]["git_dirty"], bool)
    assert len(env["uv_lock_sha256"]) == 64
    assert set(env["libraries"]) == {"python", *provenance.LIBRARIES}
    assert env["libraries"]["pyarrow"]
    assert provenance.differences({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}) == {"a.c": (2, 3)}
