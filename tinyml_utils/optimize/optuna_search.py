"""The model size search on Optuna: multi-objective, resumable, many workers on one study.

Each Optuna *trial* is one point of the CNN template's space (:class:`~.search.SearchSpace`:
N conv blocks, M dense layers, Pi pools per block, widths). The study has up to four
objectives: validation accuracy of the int8 ``.tflite`` file (maximize), its int8 weights
bytes, its **measured** TFLM arena and its MACs (minimize). No weights are chosen before
searching: the study keeps the Pareto front (``study.best_trials``), and the reference
weighted loss (:func:`~.search.add_loss`) is a view over its trials afterwards.

Steps::

    config = SearchConfig(app="motionsense", space=SPACES["notebook"], sampler="tpe",
                          epochs=5, board="mega2560")
    study = open_study("outputs/search.db", "ms-tpe", config, data)   # creates or resumes
    run(study, data, epoch_budget=180)          # this worker's trials (progress bar)
    table = trials_table(study)                 # one row per trial, with state and reason
    front = front_table(study)                  # the Pareto front, read back from storage

**Storage.** A path is a SQLite file (the notebook's default, under its output folder):
running again resumes the study. Any SQLAlchemy URL (``postgresql://user@host/db``) is a
shared database: N workers (``tinyml search --storage URL --study NAME``) on N machines
add trials to one study, and each trial is recorded once. The search's settings are stored
in the study (user attribute ``tinyml_config``), so a worker that joins only names the
storage and the study; a worker whose settings or data differ is refused.

**Samplers.** ``"grid"`` is Optuna's ``GridSampler`` over the whole space (the grid the
notebook teaches: every point once, same epochs); ``"tpe"`` and ``"nsga2"`` are Optuna's
multi-objective TPE and NSGA-II samplers.

**Constraints.** With a ``board``, the int8 file must fit its flash and the measured arena
its RAM: both are Optuna constraints (``trial.set_constraint``), so samplers steer away
from infeasible regions and ``study.best_trials`` holds feasible trials only. The sizes
depend on the architecture only, so they are measured on the untrained model and a
candidate that cannot fit is never trained (``fit_infeasible=False``).

**Pruning.** Optuna's pruners (and ``Trial.report``) refuse multi-objective studies, so the
project adds one: :class:`DominatedPruner`. After each epoch, a trial whose Keras
validation accuracy at that epoch is beaten (by ``margin``) by a finished trial that is no
bigger in any size objective, at the same epoch, is hopeless: that finished trial already
dominates it. It is stopped with ``optuna.TrialPruned`` and the reason is recorded.

**Invalid and duplicate points.** A point whose pooling drops below one step, or with too
many parameters, is pruned at once with the reason (:func:`~.search.spec_from_point`). A
point that builds the same model as a finished trial is not trained again: it returns that
trial's values and names it in ``same_as`` (a sampler learns from it; tables drop it).
"""

from __future__ import annotations

import gc
import os
import socket
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy
from optuna.trial import TrialState

from tinyml_utils import apps
from tinyml_utils.core.errors import DataError, TinyMLError
from tinyml_utils.core.progress import tqdm
from tinyml_utils.core.tf import keras
from tinyml_utils.model.cnn import build_cnn
from tinyml_utils.optimize import boards
from tinyml_utils.optimize.search import (
    _default_arena,
    _macs_of,
    _weights_bytes,
    compile_model,
    convert,
    spec_from_point,
    tflite_accuracy,
)
from tinyml_utils.optimize.search_config import (
    CONFIG_KEY,
    DATA_KEY,
    OBJECTIVES,
    PARAM_NAMES,
    SPACE_FIELDS,
    SearchConfig,
    data_fingerprint,
)

# --------------------------------------------------------------------------- storage, study


def storage_url(storage: str | os.PathLike) -> str:
    """A SQLAlchemy URL: ``path/to/search.db`` becomes ``sqlite:///<absolute path>``."""
    text = str(storage)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def make_storage(storage: str | os.PathLike) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage with heartbeats: a worker that dies leaves no trial RUNNING.

    A trial whose worker stopped beating for ``grace_period`` is marked FAIL and retried
    once by the next worker (``RetryHeartbeatStaleTrialCallback``). SQLite waits up to a minute for
    a lock instead of failing when two local workers write at once.
    """
    url = storage_url(storage)
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=30,
                    grace_period=120,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                        max_retry=1
                    ),
                )
        except (
            sqlalchemy.exc.IntegrityError,
            sqlalchemy.exc.OperationalError,
            sqlalchemy.exc.ProgrammingError,
        ) as exc:
            # two workers creating the tables of a new database at once: one wins, and the
            # other finds them made on its next try
            if attempt == 4:
                shown = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
                raise TinyMLError(
                    f"cannot open the study storage {shown}: {getattr(exc, 'orig', exc)}. Fix: "
                    "give sqlite:///FILE.db in a folder that exists, or the URL of a running "
                    "database server (postgresql+psycopg://USER@HOST:PORT/DB)."
                ) from exc
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def make_sampler(
    config: SearchConfig, worker_seed: int | None = None
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of ``config``, seeded with ``config.seed``.

    ``worker_seed`` (e.g. the process id) mixes into the seed of TPE and NSGA-II so that
    workers sharing a study do not all propose the same first points; None keeps a single
    run reproducible. The grid keeps ``config.seed`` in every worker.
    """
    seed = config.seed
    # GridSampler maps trial number -> grid point through a shuffle by its seed: every worker
    # must shuffle alike, or two workers run the same point and skip another.
    if worker_seed is not None and config.sampler != "grid":
        seed = int(np.random.SeedSequence([config.seed, int(worker_seed)]).generate_state(1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if config.sampler == "grid":
            space = config.space
            grid = {
                name: list(getattr(space, f))
                for name, f in zip(PARAM_NAMES, SPACE_FIELDS, strict=True)
            }
            return optuna.samplers.GridSampler(grid, seed=seed)
        if config.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(population_size=10, seed=seed)
        return optuna.samplers.TPESampler(n_startup_trials=8, multivariate=True, seed=seed)


def open_study(
    storage: str | os.PathLike,
    study_name: str,
    config: SearchConfig | None = None,
    data=None,
    worker_seed: int | None = None,
) -> optuna.Study:
    """Create the study, or load it to resume or to join it as one more worker.

    Args:
        storage: a SQLite file path or any SQLAlchemy URL (see :func:`storage_url`).
        study_name: the study's name in that storage.
        config: the search's settings; None to take the stored ones (joining a study).
        data: the worker's data; checked against the study's (same split and shapes).
        worker_seed: see :func:`make_sampler` (``tinyml search`` passes its process id).

    Raises:
        DataError: the study does not exist and no config was given, or the given config
            or data differ from the study's.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = make_storage(storage)
    names = {s.study_name for s in optuna.get_all_study_summaries(store, include_best_trial=False)}
    stored = None
    if study_name in names:
        attrs = optuna.load_study(study_name=study_name, storage=store).user_attrs
        stored = SearchConfig.from_json(attrs[CONFIG_KEY]) if CONFIG_KEY in attrs else None
    if config is None:
        if stored is None:
            raise DataError(
                f"no search study {study_name!r} in {storage_url(storage)}: give its settings "
                "(tinyml search --app APP ...) to create it."
            )
        config = stored
    elif stored is not None and stored != config:
        raise DataError(
            f"study {study_name!r} was created with other settings:\n  stored: "
            f"{stored.to_json()}\n  asked:  {config.to_json()}\nJoin it without settings "
            "(only --storage and --study), or use another study name."
        )
    study = optuna.create_study(
        storage=store,
        study_name=study_name,
        sampler=make_sampler(config, worker_seed),
        directions=[OBJECTIVES[o] for o in config.objectives],
        load_if_exists=True,
    )
    if stored is None:
        study.set_user_attr(CONFIG_KEY, config.to_json())
    if data is not None:
        mine = data_fingerprint(data)
        theirs = study.user_attrs.get(DATA_KEY)
        if theirs is None:
            study.set_user_attr(DATA_KEY, mine)
        elif theirs != mine:
            raise DataError(
                f"this worker's data differ from study {study_name!r}'s:\n  study:  {theirs}\n"
                f"  worker: {mine}\nLoad the same app, data source and split on every worker."
            )
    return study


def study_config(study: optuna.Study) -> SearchConfig:
    """The :class:`SearchConfig` stored in ``study``."""
    if CONFIG_KEY not in study.user_attrs:
        raise DataError(f"study {study.study_name!r} was not created by tinyml search.")
    return SearchConfig.from_json(study.user_attrs[CONFIG_KEY])


# --------------------------------------------------------------------------- pruning


class DominatedPruner(optuna.pruners.BasePruner):
    """Prune a trial that a finished, no-bigger trial beats at the same epoch.

    Optuna's pruners compare one objective (``Trial.report`` raises on multi-objective
    studies). Here the sizes (weights, arena, MACs) are known before training, so the only
    open question at epoch ``e`` is accuracy: if a COMPLETE trial is no bigger in every size
    objective and its validation accuracy at epoch ``e`` was higher by ``margin``, it
    already dominates this trial at equal training, which is then stopped.

    The per-epoch Keras validation accuracies are the user attribute
    ``val_accuracy_by_epoch``; sizes are user attributes named like the objectives.
    """

    def __init__(self, objectives: Sequence[str], margin: float = 0.01, min_epoch: int = 1):
        self.sizes = [o for o in objectives if o != "val_accuracy"]
        self.margin = float(margin)
        self.min_epoch = int(min_epoch)

    def dominator(self, study: optuna.Study, trial) -> optuna.trial.FrozenTrial | None:
        """The finished trial that dominates ``trial`` at its last epoch, or None."""
        curve = trial.user_attrs.get("val_accuracy_by_epoch", [])
        epoch = len(curve)
        if epoch < self.min_epoch:
            return None
        mine = [trial.user_attrs[s] for s in self.sizes]
        for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            attrs = other.user_attrs
            theirs = attrs.get("val_accuracy_by_epoch", [])
            if attrs.get("same_as") is not None or len(theirs) < epoch:
                continue
            if any(v > 0 for v in other.constraints.values()):
                continue
            if all(attrs[s] <= m for s, m in zip(self.sizes, mine, strict=True)) and (
                theirs[epoch - 1] >= curve[-1] + self.margin
            ):
                return other
        return None

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return self.dominator(study, trial) is not None


# --------------------------------------------------------------------------- the objective


def _spec_of(trial: optuna.Trial, config: SearchConfig, fingerprint: dict) -> tuple:
    space = config.space
    point = [
        trial.suggest_categorical(name, list(getattr(space, field)))
        for name, field in zip(PARAM_NAMES, SPACE_FIELDS, strict=True)
    ]
    return spec_from_point(space, fingerprint["input_shape"], fingerprint["num_classes"], *point)


def probe_blob(model, x_calibration: np.ndarray, num_calibration: int = 200) -> bytes:
    """The int8 file of an *untrained* model, with the same layout as after training.

    The converter drops a dense layer's bias when it is all zeros (as it is at
    initialisation), which makes the file and the arena smaller than the trained model's.
    The biases are set to small non-zero values for the conversion, then restored.
    """
    rng = np.random.default_rng(0)
    saved = []
    for layer in model.layers:
        bias = getattr(layer, "bias", None)
        if bias is not None:
            saved.append((bias, bias.numpy()))
            bias.assign(rng.uniform(1e-3, 2e-3, bias.shape).astype(np.float32))
    try:
        return convert(model, "int8", x_calibration, num_calibration=num_calibration)
    finally:
        for bias, value in saved:
            bias.assign(value)


def _sizes(blob: bytes, measure_arena: Callable[[bytes], int | None]) -> dict[str, Any]:
    return {
        "weights_bytes": _weights_bytes(blob),
        "tflite_bytes": len(blob),
        "arena_bytes": measure_arena(blob),
        "macs": _macs_of(blob),
    }


def _same_model(study: optuna.Study, trial: optuna.Trial, name: str):
    """A trial that already measures the same model: a COMPLETE one, or a RUNNING one with a
    lower number (so of two workers that start the same model at once, exactly one goes on)."""
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
        if other.number == trial.number or other.user_attrs.get("candidate") != name:
            continue
        if other.user_attrs.get("same_as") is not None:
            continue
        if other.state == TrialState.COMPLETE or other.number < trial.number:
            return other
    return None


def _objective(
    trial: optuna.Trial,
    study: optuna.Study,
    config: SearchConfig,
    data,
    pruner: DominatedPruner,
    measure_arena: Callable[[bytes], int | None],
    model_dir: Path | None,
    worker: str,
):
    trial.set_user_attr("worker", worker)
    trial.set_user_attr("epochs", 0)
    spec, reason = _spec_of(trial, config, data_fingerprint(data))
    if spec is None:
        trial.set_user_attr("why", reason)
        raise optuna.TrialPruned(reason)
    name = spec.name()
    trial.set_user_attr("candidate", name)
    twin = _same_model(study, trial, name)
    if twin is not None and twin.state == TrialState.COMPLETE:
        for key in ("spec_json", "params", "tflite_bytes", "keras_val_accuracy"):
            trial.set_user_attr(key, twin.user_attrs.get(key))
        for key in config.objectives:
            trial.set_user_attr(key, twin.user_attrs.get(key))
        for key, value in twin.constraints.items():
            trial.set_constraint(key, value)
        trial.set_user_attr("same_as", twin.number)
        return [twin.user_attrs[o] for o in config.objectives]
    if twin is not None:
        trial.set_user_attr("why", f"same model as running trial {twin.number}")
        raise optuna.TrialPruned(trial.user_attrs["why"])
    trial.set_user_attr("spec_json", spec.to_json().replace("\n", "").replace("  ", ""))

    # sizes depend on the architecture only: measure them before spending any epoch
    model = build_cnn(spec, seed=config.seed)
    compile_model(model, config.learning_rate)
    trial.set_user_attr("params", int(model.count_params()))
    calib = config.num_calibration
    sizes = _sizes(probe_blob(model, data.x_train, calib), measure_arena)
    for key, value in sizes.items():
        trial.set_user_attr(key, value)
    if sizes["arena_bytes"] is None:
        trial.set_user_attr("why", "TFLM cannot run the int8 model (no arena measured)")
        raise optuna.TrialPruned(trial.user_attrs["why"])
    fits = None
    if config.board is not None:
        budget = boards.get_board(config.board)
        trial.set_constraint("flash_bytes", sizes["tflite_bytes"] - budget.flash_bytes)
        trial.set_constraint("ram_bytes", sizes["arena_bytes"] - budget.ram_bytes)
        fits = boards.check_fit(budget, sizes["tflite_bytes"], sizes["arena_bytes"])
        if not fits.fits and not config.fit_infeasible:
            trial.set_user_attr("why", f"does not fit {budget.key}: {fits.reason}")
            raise optuna.TrialPruned(trial.user_attrs["why"])

    curve: list[float] = []
    keras.utils.set_random_seed(config.seed)
    for epoch in range(1, config.epochs + 1):
        model.fit(
            data.x_train,
            data.y_train,
            epochs=1,
            batch_size=config.batch_size,
            verbose=0,
            shuffle=True,
        )
        _, acc = model.evaluate(data.x_val, data.y_val, verbose=0, batch_size=256)
        curve.append(round(float(acc), 4))
        trial.set_user_attr("val_accuracy_by_epoch", curve)
        trial.set_user_attr("epochs", epoch)
        if config.prune and epoch < config.epochs:
            other = pruner.dominator(study, trial)
            if other is not None:
                why = (
                    f"pruned at epoch {epoch}: trial {other.number} ({other.user_attrs['candidate']})"
                    f" is no bigger and had val accuracy {other.user_attrs['val_accuracy_by_epoch'][epoch - 1]:.3f}"
                    f" > {curve[-1]:.3f} at that epoch"
                )
                trial.set_user_attr("why", why)
                raise optuna.TrialPruned(why)
    trial.set_user_attr("keras_val_accuracy", curve[-1])

    blob = convert(model, "int8", data.x_train, num_calibration=calib)
    accuracy = round(tflite_accuracy(blob, data.x_val, data.y_val), 4)
    trial.set_user_attr("val_accuracy", accuracy)
    trial.set_user_attr("weights_bytes", _weights_bytes(blob))
    trial.set_user_attr("tflite_bytes", len(blob))
    if model_dir is not None:
        path = model_dir / f"{study.study_name}_trial{trial.number:04d}.tflite"
        path.write_bytes(blob)
        trial.set_user_attr("model_file", path.name)
    return [trial.user_attrs[o] for o in config.objectives]


# --------------------------------------------------------------------------- running


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def epochs_used(study: optuna.Study) -> int:
    """Epochs trained so far by every worker of the study (finished trials)."""
    return int(sum(t.user_attrs.get("epochs", 0) for t in _finished(study)))


def run(
    study: optuna.Study,
    data,
    n_trials: int | None = None,
    epoch_budget: int | None = None,
    measure_arena: Callable[[bytes], int | None] | None = None,
    model_dir: str | os.PathLike | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> int:
    """Run trials in this process until the *study* holds ``n_trials`` finished trials,
    has trained ``epoch_budget`` epochs in total, or the grid is exhausted.

    The targets count every worker's trials, so running again after an interruption only
    adds what is missing, and N workers with the same target stop together. (A worker
    finishes the trial it is in, so a shared study may end a trial or two past the target.)

    Args:
        study: from :func:`open_study`.
        data: ``x_train, y_train, x_val, y_val`` (``apps.PreparedData``).
        n_trials, epoch_budget: the study's targets (at least one; both: the first reached).
        measure_arena: bytes -> arena bytes (default: TFLM ``measure_arena``).
        model_dir: folder for each completed trial's int8 ``.tflite`` (None: not kept).
        timeout: seconds for this worker.

    Returns:
        the number of trials this worker ran.
    """
    if n_trials is None and epoch_budget is None:
        raise DataError("give n_trials or epoch_budget (or both): when should the search stop?")
    config = study_config(study)
    if data_fingerprint(data) != study.user_attrs.get(DATA_KEY, data_fingerprint(data)):
        raise DataError("this data is not the study's: open the study with open_study(..., data).")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = None
    if model_dir is not None:
        folder = Path(model_dir)
        folder.mkdir(parents=True, exist_ok=True)
    pruner = DominatedPruner(config.objectives, config.margin)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    measure_arena = measure_arena or _default_arena

    def remaining() -> tuple[int, int]:
        done = _finished(study)
        trials_left = (n_trials - len(done)) if n_trials is not None else 1
        used = int(sum(t.user_attrs.get("epochs", 0) for t in done))
        epochs_left = (epoch_budget - used) if epoch_budget is not None else 1
        return trials_left, epochs_left

    total = epoch_budget if epoch_budget is not None else n_trials
    bar = tqdm(
        total=total,
        desc=study.study_name,
        unit="epoch" if epoch_budget else "trial",
        disable=not progress,
    )

    def step(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        trials_left, epochs_left = remaining()
        done = (
            (epoch_budget - epochs_left) if epoch_budget is not None else (n_trials - trials_left)
        )
        bar.update(max(0, min(total, done) - bar.n))
        bar.set_postfix_str(f"trial {frozen.number} {frozen.state.name.lower()}", refresh=False)
        if trials_left <= 0 or epochs_left <= 0:
            study.stop()

    trials_left, epochs_left = remaining()
    ran = 0
    if trials_left > 0 and epochs_left > 0:
        before = {t.number for t in study.get_trials(deepcopy=False)}

        def objective(trial: optuna.Trial):
            try:
                return _objective(trial, study, config, data, pruner, measure_arena, folder, worker)
            finally:
                _release()

        study.optimize(
            objective,
            n_trials=trials_left if n_trials is not None else None,
            timeout=timeout,
            callbacks=[step],
            gc_after_trial=False,
        )
        ran = sum(
            1
            for t in study.get_trials(deepcopy=False)
            if t.number not in before and t.user_attrs.get("worker") == worker
        )
    bar.update(
        max(
            0,
            min(
                total,
                (epoch_budget - remaining()[1]) if epoch_budget else (n_trials - remaining()[0]),
            )
            - bar.n,
        )
    )
    bar.close()
    return ran


def _release() -> None:
    keras.backend.clear_session()
    gc.collect()


# --------------------------------------------------------------------------- one worker


def worker(
    storage: str | os.PathLike,
    study_name: str,
    config: SearchConfig | None = None,
    n_trials: int | None = None,
    epoch_budget: int | None = None,
    data_source: str = "synthetic",
    data_dir: str | os.PathLike | None = None,
    quick: bool = False,
    model_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> tuple[optuna.Study, int]:
    """One search worker (what ``tinyml search`` runs): load the app's data, open the study
    (creating it from ``config``, or joining it with ``config=None``), run trials.

    Returns the study and the number of trials this worker ran.
    """
    if config is None:
        config = study_config(open_study(storage, study_name))
    data = apps.prepare(config.app, source=data_source, data_dir=data_dir, quick=quick)
    study = open_study(storage, study_name, config, data, worker_seed=os.getpid())
    ran = run(study, data, n_trials, epoch_budget, model_dir=model_dir, progress=progress)
    return study, ran
