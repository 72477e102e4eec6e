"""tinyml_utils.model.train: metrics, seeded training, and the conversion table (tiny synthetic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tinyml_utils import apps
from tinyml_utils.core.errors import DataError
from tinyml_utils.model import train
from tinyml_utils.model.cnn import build_cnn


def test_metrics_by_hand():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 2])
    r = train.evaluate_predictions(y_true, y_pred, ["a", "b", "c"])
    assert r.accuracy == pytest.approx(6 / 8)
    assert r.per_class_recall == pytest.approx({"a": 0.75, "b": 0.5, "c": 1.0})
    assert r.per_class_precision == pytest.approx({"a": 3 / 4, "b": 1 / 2, "c": 1.0})
    assert r.balanced_accuracy == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert isinstance(r.confusion, pd.DataFrame)
    assert r.confusion.loc["a", "b"] == 1 and r.confusion.loc["b", "a"] == 1
    assert r.confusion.values.sum() == 8
    assert r.false_alarm_rate(positive=1) == pytest.approx(1 / 6)
    summary = r.summary()
    assert summary["n"] == 8 and summary["confusion"][2] == [0, 0, 2]
    assert "balanced accuracy" in str(r)


def test_metrics_errors():
    with pytest.raises(DataError, match="no examples"):
        train.evaluate_predictions(np.array([], int), np.array([], int), ["a", "b"])
    with pytest.raises(DataError, match="must match"):
        train.evaluate_predictions(np.array([0, 1]), np.array([0]), ["a", "b"])


def test_class_weights_balance_the_loss():
    w = train.class_weights(np.array([0] * 90 + [1] * 10))
    assert w[0] * 90 == pytest.approx(w[1] * 10)
    assert w[1] == pytest.approx(100 / (2 * 10))


@pytest.fixture(scope="module")
def trained():
    train.configure_threads(1, 1)
    data = apps.prepare("carsensor", quick=True)
    model = build_cnn(apps.default_spec("carsensor", data))
    history = train.train(
        model, data, epochs=6, batch_size=32, seed=0, verbose=0, class_weight="balanced"
    )
    return data, model, history


def test_train_learns_and_evaluates(trained):
    data, model, history = trained
    assert len(history.history["loss"]) >= 1 and "val_accuracy" in history.history
    assert history.history["loss"][-1] < history.history["loss"][0]
    result = train.evaluate_keras(model, data.x_test, data.y_test, data.class_names)
    assert result.accuracy > 0.5  # synthetic car/not-car is easy; chance is 0.5
    assert list(result.confusion.index) == data.class_names


def test_training_is_seeded():
    data = apps.prepare("carsensor", quick=True)
    outs = []
    for _ in range(2):
        model = build_cnn(apps.default_spec("carsensor", data), seed=3)
        train.train(model, data, epochs=1, seed=3, verbose=0, patience=None)
        outs.append(model.predict(data.x_test[:8], verbose=0))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)


def test_train_rejects_missing_splits():
    with pytest.raises(DataError, match="apps.prepare"):
        train.train(object(), object(), epochs=1)


def test_conversion_table_measures_the_files(tmp_path):
    # MotionSense's default CNN: its larger conv kernels get int8 weights in the
    # dynamic-range file (the converter leaves tensors under 1,024 weights in float)
    data = apps.prepare("motionsense", quick=True)
    model = build_cnn(apps.default_spec("motionsense", data))
    train.train(model, data, epochs=2, verbose=0)
    table = train.conversion_table(model, data, out_dir=tmp_path)
    assert list(table["variant"]) == ["float32", "float16", "dynamic_range", "int8"]
    rows = table.set_index("variant")
    for variant, row in rows.iterrows():
        path = tmp_path / f"model_{variant}.tflite"
        assert Path(row["file"]).resolve() == Path(path).resolve()
        assert not Path(row["file"]).is_absolute() and path.stat().st_size == row["model_bytes"]
        assert 0 < row["weights_bytes"] < row["model_bytes"]
        assert 0 <= row["accuracy"] <= 1
    # int8 stores one byte per weight, float32 four: about 4x fewer weight bytes
    assert rows.loc["int8", "weights_bytes"] < 0.4 * rows.loc["float32", "weights_bytes"]
    assert rows.loc["dynamic_range", "runs_on_tflm"] == "no"
    assert "ybrid" in rows.loc["dynamic_range", "tflm_reason"]
    for variant in ("float32", "int8"):
        assert rows.loc[variant, "runs_on_tflm"] == "yes"
        assert rows.loc[variant, "tflm_arena_bytes"] > 0
    assert rows.loc["int8", "tflm_arena_bytes"] < rows.loc["float32", "tflm_arena_bytes"]
    # accuracy of the int8 file is measured by running it, not copied from Keras
    direct = train.evaluate_tflite(
        tmp_path / "model_int8.tflite", data.x_test, data.y_test, data.class_names
    )
    assert rows.loc["int8", "accuracy"] == pytest.approx(direct.accuracy, abs=1e-4)


def test_plots(trained):
    import matplotlib

    matplotlib.use("Agg")
    data, model, history = trained
    result = train.evaluate_keras(model, data.x_test, data.y_test, data.class_names)
    fig = train.plot_confusion(result)
    assert len(fig.axes[0].texts) == 4  # one count per cell
    assert train.plot_history(history).axes[0].get_lines()
