"""deploy.target_arena: the 32-bit target's arena, or the host's labelled as such.

The measurement itself (TFLM on the emulated Cortex-M4F) is checked against every committed
reference model in tests/apps/test_reference_models.py and against the sketches in
tests/deploy/test_tflm_target.py; here: what happens where it cannot run.
"""

from __future__ import annotations

import pytest

from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.core.paths import models_dir
from tinyml_utils.deploy import target_arena as ta


def test_without_the_toolchain_the_reason_is_given(monkeypatch):
    monkeypatch.setattr(ta.toolchains, "tools_available", lambda *tools: False)
    found = ta.target_arena(models_dir() / "carsensor" / "model_int8.tflite")
    assert found.bytes is None
    assert "install_firmware_tools.sh" in found.reason and "64-bit host" in found.reason
    with pytest.raises(TinyMLError, match="cannot measure the target arena"):
        ta.measure_target_arena(models_dir() / "carsensor" / "model_int8.tflite")


def test_a_float_model_is_refused_with_the_fix():
    found = ta.target_arena(models_dir() / "carsensor" / "model_float32.tflite")
    assert found.bytes is None and "int8" in found.reason and "convert" in found.reason


def test_arena_text_labels_each_runtime():
    both = ta.arena_text(5396, 6480)
    assert (
        both.startswith("5,396 B on a 32-bit Cortex-M4F") and "6,480 B in the 64-bit host" in both
    )
    assert ta.arena_text(5396, 6480, markdown=True).startswith("**5,396 B**")
    host_only = ta.arena_text(None, 6480)
    assert host_only.startswith("6,480 B in the 64-bit host runtime") and "needs less" in host_only
    assert ta.arena_text(None, None) == "not measured"
