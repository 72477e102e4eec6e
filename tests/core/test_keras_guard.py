"""Importing tinyml_utils makes Keras 2 hold; Keras 3 already active is a loud error."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_import_sets_legacy_keras_before_tensorflow():
    result = _python(
        "import tinyml_utils, os\n"
        "assert os.environ['TF_USE_LEGACY_KERAS'] == '1'\n"
        "import tensorflow as tf\n"
        "print(tf.keras.__name__)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


def test_tf_module_gives_keras_2():
    result = _python(
        "from tinyml_utils.core.tf import keras\nimport tf_keras\n"
        "print(keras.__name__, tf_keras.__version__)"
    )
    assert result.returncode == 0, result.stderr
    name, version = result.stdout.split()
    assert name.startswith("tf_keras") and version.startswith("2.")


def test_keras3_already_active_raises_with_fix():
    result = _python(
        "import tensorflow as tf\n"
        "tf.keras.layers  # resolves tf.keras to Keras 3\n"
        "import tinyml_utils\n"
    )
    assert result.returncode != 0
    assert "Keras3ActiveError" in result.stderr
    assert "import tinyml_utils` before `import tensorflow`" in result.stderr


def test_wrong_env_value_is_overridden_with_warning():
    result = _python(
        "import warnings\nwarnings.simplefilter('error')\n"
        "try:\n    import tinyml_utils\nexcept UserWarning as w:\n    print('warned', w)\n",
        {"TF_USE_LEGACY_KERAS": "0"},
    )
    assert "warned" in result.stdout and "Keras 2" in result.stdout
