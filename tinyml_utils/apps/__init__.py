"""The applications of the workbook: from a dataset to model-ready arrays.

One module per app (:mod:`.motionsense`, :mod:`.carsensor`, :mod:`.keyword_spotting`,
:mod:`.music_genre`) holds everything about it: dataset, feature recipe, default model,
reference models, device input (:class:`tinyml_utils.apps.base.App`). This module is the
registry and the recipe every app shares (:mod:`.prepare`).

    from tinyml_utils import apps
    data = apps.prepare("motionsense", source="synthetic", quick=True)
    data.x_train.shape, data.split, data.preprocessing
    spec = apps.default_spec("motionsense", data)

``prepare`` does, for every app, the same four steps:

1. load the dataset (:func:`tinyml_utils.data.datasets.load`: synthetic, local or download);
2. split it BY GROUP (subject, speaker, track, recording) with
   :func:`tinyml_utils.data.datasets.split_by_group`, so that no person or track is both in
   training and in test (windows of one recording are strongly alike: a split by window
   would measure memory, not generalisation);
3. compute the features of each split (windows, log-mel, MFCC: :mod:`tinyml_utils.data.features`);
4. fit the normalisation on the TRAINING split only and apply it to all three.

Everything needed to repeat steps 3-4 on new data is in ``data.preprocessing`` (a JSON-able
dict, saved as ``preprocessing.json`` next to a reference model): :func:`preprocess` applies
it to any Dataset, which is what ``tinyml evaluate`` and a firmware port do.

=================  ==================  ======================================  ==========
app                dataset             model input (default)                    split by
=================  ==================  ======================================  ==========
motionsense        motionsense         256 samples (5.12 s at 50 Hz) x 4        subject
carsensor          carsensor           100 samples x 3 axes                     recording
keyword_spotting   speech_commands     31 frames x 20 log-mel bins (1 s)        speaker
music_genre        gtzan (features)    57 track features (features_30_sec)      track
music_genre        gtzan (audio)       216 frames x 13 MFCCs (5 s clips)        track
=================  ==================  ======================================  ==========
"""

from __future__ import annotations

from tinyml_utils.apps.base import App, Reference
from tinyml_utils.apps.prepare import (
    PreparedData,
    app_options,
    compute_features,
    default_spec,
    feature_params,
    load_dataset,
    prepare,
    preprocess,
)
from tinyml_utils.apps.registry import MODULES, check_app, get_app, references

#: The app names (``prepare(app)``).
APPS = MODULES

__all__ = [
    "APPS",
    "MODULES",
    "App",
    "PreparedData",
    "Reference",
    "app_options",
    "check_app",
    "compute_features",
    "default_spec",
    "feature_params",
    "get_app",
    "load_dataset",
    "prepare",
    "preprocess",
    "references",
]
