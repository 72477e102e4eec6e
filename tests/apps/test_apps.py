"""tinyml_utils.apps: prepare() shapes, group splits and recorded preprocessing (synthetic)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyml_utils import apps
from tinyml_utils.apps.motionsense import MOTION_CHANNELS_3, MOTION_CHANNELS_6
from tinyml_utils.core.errors import DataError

EXPECTED = {
    # app, options -> (input shape, number of classes)
    ("motionsense", ()): ((256, 4), 3),
    ("motionsense", (("classes", 6),)): ((256, 7), 6),
    ("carsensor", ()): ((100, 3), 2),
    ("keyword_spotting", ()): ((31, 20, 1), 2),
    ("music_genre", ()): ((57, 1), 10),
    ("music_genre", (("kind", "audio"),)): ((216, 13), 10),
}


@pytest.fixture(scope="module")
def prepared():
    return {
        key: apps.prepare(key[0], source="synthetic", quick=True, **dict(key[1]))
        for key in EXPECTED
    }


@pytest.mark.parametrize("key", list(EXPECTED), ids=lambda k: "-".join([k[0], *map(str, k[1])]))
def test_prepare_shapes_and_groups(prepared, key):
    data = prepared[key]
    shape, k = EXPECTED[key]
    assert data.input_shape == shape
    assert data.num_classes == k == len(data.class_names)
    for part in ("train", "val", "test"):
        x, y = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
        assert x.dtype == np.float32 and x.shape[1:] == shape and len(x) == len(y) > 0
        assert y.min() >= 0 and y.max() < k
    # no group on two sides of the split
    tr, va, te = (set(getattr(data, f"groups_{p}").tolist()) for p in ("train", "val", "test"))
    assert not (tr & va) and not (tr & te) and not (va & te)
    split = data.preprocessing["split"]
    assert set(split["test_groups"]) == te and set(split["train_groups"]) == tr
    assert data.split.startswith("by ") and data.source == "synthetic"
    json.dumps(data.preprocessing)  # JSON-able, so it can be written next to the model
    # normalisation was fitted on the training split: train features are standardised
    assert abs(float(data.x_train.mean())) < 0.05
    # the default model fits the data
    spec = apps.default_spec(key[0], data)
    assert spec.input_shape == shape and spec.num_classes == k


@pytest.mark.parametrize("key", list(EXPECTED), ids=lambda k: "-".join([k[0], *map(str, k[1])]))
def test_preprocess_reproduces_prepare(prepared, key):
    """The recorded recipe, applied to the raw test split, gives the very same inputs."""
    data = prepared[key]
    cfg = apps.app_options(key[0], quick=True, **dict(key[1]))
    ds = apps.load_dataset(
        key[0],
        "synthetic",
        None,
        0,
        **{k: v for k, v in cfg.items() if k in apps.get_app(key[0]).load_options},
    )
    test = ds.subset(np.isin(ds.groups, data.preprocessing["split"]["test_groups"]))
    x, y, groups = apps.preprocess(key[0], test, json.loads(json.dumps(data.preprocessing)))
    np.testing.assert_array_equal(y, data.y_test)
    np.testing.assert_allclose(x, data.x_test, rtol=1e-6, atol=1e-6)


def test_quick_is_smaller_on_the_window_hop():
    full = apps.app_options("motionsense")
    quick = apps.app_options("motionsense", quick=True)
    assert quick["hop"] > full["hop"] and quick["max_seconds"]
    assert full["channels"] == MOTION_CHANNELS_3
    assert apps.app_options("motionsense", classes=6)["channels"] == MOTION_CHANNELS_6


def test_fixed_test_groups():
    data = apps.prepare("carsensor", quick=True, test_groups=["recording_00", "recording_05"])
    assert set(data.groups_test.tolist()) == {"recording_00", "recording_05"}


def test_errors_name_the_fix():
    with pytest.raises(DataError, match="choose one of"):
        apps.prepare("weather")
    with pytest.raises(DataError, match="unknown option"):
        apps.prepare("motionsense", windw=128)
    with pytest.raises(DataError, match="kind must be"):
        apps.app_options("music_genre", kind="video")
