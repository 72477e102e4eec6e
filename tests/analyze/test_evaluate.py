"""tinyml evaluate: folder in the original layout -> same preprocessing -> metrics; bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tinyml_utils import apps, cli
from tinyml_utils.analyze.evaluate import evaluate_model
from tinyml_utils.core.errors import DataError, DatasetNotFoundError, ModelFileError
from tinyml_utils.model import train
from tinyml_utils.model.cnn import build_cnn

TRIALS = {0: "dws_1", 1: "wlk_7", 2: "sit_5"}  # one trial per 3-class label


def write_motionsense_folder(root, ds, subjects):
    """Recordings of ``subjects`` as A_DeviceMotion_data/<trial>/sub_<n>.csv (original layout)."""
    for rec, label, subject in zip(ds.x, ds.y, ds.groups, strict=True):
        if subject not in subjects:
            continue
        folder = root / "A_DeviceMotion_data" / TRIALS[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"sub_{subject}.csv"
        if path.exists():
            continue
        pd.DataFrame(rec, columns=ds.meta["channels"]).to_csv(path)
    return root


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A quickly trained MotionSense model with its preprocessing.json, like train-reference."""
    train.configure_threads(1, 1)
    data = apps.prepare("motionsense", source="synthetic", quick=True)
    model = build_cnn(apps.default_spec("motionsense", data))
    train.train(model, data, epochs=2, verbose=0)
    from tinyml_utils.tflite.convert import convert

    out = tmp_path_factory.mktemp("model")
    (out / "model_int8.tflite").write_bytes(convert(model, "int8", data.x_train))
    (out / "preprocessing.json").write_text(json.dumps(data.preprocessing))
    return out, data


def test_evaluates_unseen_subjects_like_training(model_dir, tmp_path):
    out, data = model_dir
    ds = apps.load_dataset("motionsense", "synthetic", None, 0, classes=3)
    # keep one recording per (subject, label): the layout holds one file per trial+subject
    first = {}
    for i, (label, subject) in enumerate(zip(ds.y, ds.groups, strict=True)):
        first.setdefault((int(label), subject), i)
    ds = ds.subset(sorted(first.values()))
    everyone = set(ds.groups.tolist())
    write_motionsense_folder(tmp_path, ds, everyone)
    ev = evaluate_model(out / "model_int8.tflite", tmp_path)
    test_subjects = set(data.preprocessing["split"]["test_groups"])
    assert ev.n_groups == len(test_subjects)  # trained/validated subjects left out
    assert ev.excluded_examples > 0
    # same numbers as running the file on the recipe applied in Python
    x, y, _ = apps.preprocess(
        "motionsense", ds.subset(np.isin(ds.groups, list(test_subjects))), data.preprocessing
    )
    direct = train.evaluate_tflite(out / "model_int8.tflite", x, y, data.class_names)
    assert ev.result.accuracy == pytest.approx(direct.accuracy)
    np.testing.assert_array_equal(ev.result.confusion.values, direct.confusion.values)
    assert ev.n_examples == len(y)
    # --all keeps every subject
    assert evaluate_model(out / "model_int8.tflite", tmp_path, include_seen=True).n_groups == len(
        everyone
    )


def test_only_seen_subjects_is_an_error(model_dir, tmp_path):
    out, data = model_dir
    ds = apps.load_dataset("motionsense", "synthetic", None, 0, classes=3)
    write_motionsense_folder(tmp_path, ds, set(data.preprocessing["split"]["train_groups"][:2]))
    with pytest.raises(DataError, match="--all"):
        evaluate_model(out / "model_int8.tflite", tmp_path)


def test_bad_folders_and_files(model_dir, tmp_path):
    out, _ = model_dir
    model = out / "model_int8.tflite"
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        evaluate_model(model, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="layout"):
        evaluate_model(model, tmp_path / "empty")
    with pytest.raises(ModelFileError):
        evaluate_model(tmp_path / "missing.tflite", tmp_path)
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match="TFL3"):
        evaluate_model(bad, tmp_path)
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "model.tflite").write_bytes(model.read_bytes())
    with pytest.raises(DataError, match="--params"):
        evaluate_model(lone / "model.tflite", tmp_path)
    with pytest.raises(DataError, match="not 'keyword_spotting'"):
        evaluate_model(model, tmp_path, app="keyword_spotting")


def test_cli_reports_errors_in_one_line(model_dir, tmp_path, capsys):
    out, _ = model_dir
    code = cli.main(
        [
            "evaluate",
            "--app",
            "motionsense",
            "--data",
            str(tmp_path / "x"),
            str(out / "model_int8.tflite"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("tinyml evaluate: error:") and err.count("\n") == 1
