"""The public names of lineage_magic.values: a change to them must be deliberate."""

from __future__ import annotations

import lineage_magic.values as values

EXPECTED = {
    "Encoded", "FORMATS", "SAFE_FORMATS", "encode", "decode", "put_blob", "get_blob_bytes",
    "save_value", "load_value", "parse_artifact_ref", "validate_artifact_name",
}


def test_public_names_do_not_drift() -> None:
    assert set(values.__all__) == EXPECTED
    for name in values.__all__:
        assert getattr(values, name) is not None


def test_every_public_function_is_typed_and_documented() -> None:
    for name in EXPECTED:
        obj = getattr(values, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name
            assert "return" in getattr(obj, "__annotations__", {}) or isinstance(obj, type), name

