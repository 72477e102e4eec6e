"""The size search on Optuna: study settings, grid and resume, constraints, pruning, and two
worker processes sharing one study in SQLite and in a real PostgreSQL server."""

from __future__ import annotations

import dataclasses
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from tinyml_utils.core.errors import DataError
from tinyml_utils.optimize import optuna_search as engine
from tinyml_utils.optimize import trials as views
from tinyml_utils.optimize.search import SPACES, SearchSpace, enumerate_candidates, pareto_mask

ROOT = Path(__file__).resolve().parents[2]


def _data(n: int = 90, steps: int = 16, channels: int = 2, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    t = np.arange(steps)
    x = np.stack([np.sin(2 * np.pi * (c + 1) * t / steps)[:, None] * np.ones(channels) for c in y])
    x = (x + 0.2 * rng.standard_normal(x.shape)).astype(np.float32)
    a, b = int(0.6 * n), int(0.8 * n)
    return SimpleNamespace(
        app="toy", split="rows", x_train=x[:a], y_train=y[:a], x_val=x[a:b], y_val=y[a:b]
    )


# N=0 makes the Pi choice moot (a duplicate); N=2 with Pi=3 pools 16 steps below 1 (invalid)
SPACE = SearchSpace(
    n_conv=(0, 1, 2), n_dense=(1,), pools=(1, 3), base_filters=(4,), dense_units=(8,)
)


def _arena(blob: bytes) -> int:  # stands in for the TFLM measurement in the in-process tests
    return 3 * len(blob)


def test_config_is_stored_and_checked(tmp_path):
    config = engine.SearchConfig(app="toy", space=SPACE, epochs=1, sampler="grid", board="Uno")
    assert config.board == "uno"
    assert engine.SearchConfig.from_json(config.to_json()) == config
    assert engine.SearchConfig(app="toy", space="quick").space == SPACES["quick"]
    with pytest.raises(DataError, match="objectives"):
        engine.SearchConfig(app="toy", objectives=("weights_bytes", "macs"))
    with pytest.raises(DataError, match="sampler"):
        engine.SearchConfig(app="toy", sampler="random")
    db = tmp_path / "s.db"
    with pytest.raises(DataError, match="no search study"):
        engine.open_study(db, "x")
    data = _data()
    engine.open_study(db, "x", config, data)
    joined = engine.open_study(db, "x")  # a second worker names only storage and study
    assert engine.study_config(joined) == config
    with pytest.raises(DataError, match="other settings"):
        engine.open_study(db, "x", dataclasses.replace(config, epochs=2))
    with pytest.raises(DataError, match="data differ"):
        engine.open_study(db, "x", config, _data(n=60))


def test_grid_runs_every_point_once_and_resumes(tmp_path):
    data = _data()
    config = engine.SearchConfig(app="toy", space=SPACE, epochs=2, sampler="grid", prune=False)
    db = tmp_path / "search.db"
    study = engine.open_study(db, "grid", config, data)
    assert engine.run(study, data, n_trials=2, measure_arena=_arena, progress=False) == 2
    first = views.trials_table(study)
    # a new process (here: a new study object) resumes instead of starting over
    study = engine.open_study(db, "grid", config, data)
    ran = engine.run(study, data, n_trials=50, measure_arena=_arena, model_dir=tmp_path / "m")
    table = views.trials_table(study)
    assert ran == 4 and len(table) == 6 == SPACE.size()  # the grid is exhausted: it stops
    assert table["trial"].tolist() == list(range(6))
    assert table.iloc[:2][["trial", "candidate"]].equals(first[["trial", "candidate"]])
    assert set(table["state"]) == {"COMPLETE", "PRUNED"}
    invalid = table[table["why"].fillna("").str.contains("drops below 1")]
    assert len(invalid) == 1 and invalid["epochs"].iloc[0] == 0
    dup = table[table["same_as"].notna()]
    assert len(dup) == 1 and dup["epochs"].iloc[0] == 0  # not trained twice
    measured = views.completed(table)
    expected = {s.name() for s in enumerate_candidates(SPACE, (16, 2), 3).specs}
    assert set(measured["candidate"]) == expected and len(measured) == len(expected)
    assert (measured["epochs"] == 2).all() and measured["val_accuracy"].between(0, 1).all()
    assert (measured["arena_bytes"] == 3 * measured["tflite_bytes"]).all()
    assert measured["weights_bytes"].lt(measured["tflite_bytes"]).all()
    for curve in measured["val_accuracy_by_epoch"]:
        assert len(curve) == 2
    files = sorted(p.name for p in (tmp_path / "m").iterdir())  # only the second run kept them
    assert files == sorted(measured.loc[measured["trial"] >= 2, "model_file"])
    assert engine.epochs_used(study) == 2 * len(measured)


def test_board_budget_is_a_constraint_and_skips_training(tmp_path):
    data = _data()
    config = engine.SearchConfig(
        app="toy",
        space=SPACE,
        epochs=1,
        sampler="tpe",
        board="uno",
        objectives=("val_accuracy", "arena_bytes"),
    )
    study = engine.open_study(tmp_path / "s.db", "uno", config, data)
    # a 9,000-byte arena for the models with conv blocks (files over 3,000 bytes), 1,000 else
    engine.run(
        study,
        data,
        n_trials=4,
        measure_arena=lambda blob: 9_000 if len(blob) > 3_000 else 1_000,
        progress=False,
    )
    table = views.trials_table(study)
    for trial in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if "arena_bytes" not in trial.user_attrs:
            continue  # rejected before building
        ram = trial.constraints["ram_bytes"]
        assert ram == trial.user_attrs["arena_bytes"] - 2 * 1024
        if ram > 0:
            assert trial.state == TrialState.PRUNED and trial.user_attrs["epochs"] == 0
            assert trial.user_attrs["why"].startswith("does not fit uno: arena")
    front = views.front_table(study)
    assert front["feasible"].all() and (front["arena_bytes"] <= 2 * 1024).all()
    assert len(table) >= 4


def _finished(number: int, acc: list[float], **sizes) -> optuna.trial.FrozenTrial:
    return create_trial(
        values=[acc[-1], *sizes.values()],
        user_attrs={"val_accuracy_by_epoch": acc, "candidate": f"t{number}", **sizes},
        state=TrialState.COMPLETE,
    )


def test_dominated_pruner_needs_smaller_and_more_accurate_at_the_same_epoch():
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.add_trial(_finished(0, [0.6, 0.8, 0.9], weights_bytes=500, arena_bytes=2000))
    study.add_trial(_finished(1, [0.2, 0.3, 0.4], weights_bytes=100, arena_bytes=1000))
    pruner = engine.DominatedPruner(("val_accuracy", "weights_bytes", "arena_bytes"), margin=0.01)

    def running(acc, w, a):
        return SimpleNamespace(
            user_attrs={"val_accuracy_by_epoch": acc, "weights_bytes": w, "arena_bytes": a}
        )

    assert pruner.dominator(study, running([0.5], 800, 3000)).number == 0  # 0.6 > 0.5 + 0.01
    assert pruner.dominator(study, running([0.595], 800, 3000)) is None  # within the margin
    assert pruner.dominator(study, running([0.5], 400, 3000)) is None  # smaller weights
    assert pruner.dominator(study, running([0.7, 0.75], 800, 3000)).number == 0  # epoch 2
    assert pruner.dominator(study, running([0.1], 100, 1000)).number == 1
    assert pruner.prune(study, running([0.5, 0.85], 800, 3000)) is False


# --------------------------------------------------------------------------- two workers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing(what: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} (scripts/install_test_services.sh installs it)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def postgres_url():
    """A real PostgreSQL server on a free local port in a temporary data directory."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        _missing("PostgreSQL server binaries not installed (Debian package postgresql)")
    bindir = Path(bins[-1]).parent
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="tinyml-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as postgres
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            _missing("running as root and there is no 'postgres' user to run the server")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()

    def pg(tool: str, *args: str, **kw):
        cmd = [*prefix, str(bindir / tool), *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120, **kw)

    pg("initdb", "-D", str(data), "-A", "trust", "-U", "tinyml", "--no-sync")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg("pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    try:
        yield f"postgresql://tinyml@127.0.0.1:{port}/postgres"
    finally:
        pg("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _worker(url: str) -> list[str]:
    """One `tinyml search` worker: the tiny grid of the quick space, 1 epoch, quick data."""
    return [
        sys.executable,
        "-m",
        "tinyml_utils.cli",
        "search",
        "--app=motionsense",
        "--data-source=synthetic",
        "--quick",
        "--space=quick",
        "--sampler=grid",
        "--epochs=1",
        f"--storage={url}",
        "--study=two",
        "--trials=10",  # the grid (4 points) ends the study first
        "--no-progress",
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_share_one_study(backend, tmp_path, request):
    url = (
        str(tmp_path / "shared.db")
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    procs = [
        subprocess.Popen(
            _worker(url),
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = {}
    deadline = time.time() + 600
    for proc in procs:
        out, err = proc.communicate(timeout=max(1, deadline - time.time()))
        assert proc.returncode == 0, err[-3000:]
        ran = re.search(r"this worker ran (\d+) trial", out)
        assert ran, out
        reports[proc.pid] = int(ran.group(1))

    study = optuna.load_study(study_name="two", storage=engine.storage_url(url))
    table = views.trials_table(study)
    # every trial recorded once, none lost: trial numbers without gaps, every trial finished,
    # every grid point measured exactly once. Two workers that draw the same grid point at
    # once (or one that asks while the last points are all running) get a duplicate trial,
    # settled without training: pruned, or the values of the finished twin.
    assert table["trial"].tolist() == list(range(len(table))) and 4 <= len(table) <= 7
    assert set(table["state"]) <= {"COMPLETE", "PRUNED"}
    grid = enumerate_candidates(SPACES["quick"], (256, 4), 3).specs
    measured = views.completed(table)
    shown = table[["trial", "state", "candidate", "same_as", "why", "worker"]].to_string()
    assert sorted(measured["candidate"]) == sorted(s.name() for s in grid), shown
    extra = table[~table["trial"].isin(measured["trial"])]
    assert (extra["same_as"].notna() | extra["why"].fillna("").str.startswith("same model")).all()
    workers = table["worker"].str.rsplit(":", n=1).str[1].astype(int)
    assert sum(reports.values()) == len(table) and set(workers) <= set(reports)
    for pid, ran in reports.items():
        assert (workers == pid).sum() == ran
    # the Pareto front, read back from the storage, is the front of the recorded values
    objectives = engine.study_config(study).objectives
    expected = pareto_mask(
        measured[list(objectives)].astype(float).to_numpy(),
        [engine.OBJECTIVES[o] == "maximize" for o in objectives],
    )
    front = views.front_table(study)
    assert sorted(front["trial"]) == sorted(measured.loc[expected, "trial"]) and len(front) >= 1
