"""Peak memory (RSS) of the keyword-spotting training path against the number of clips.

Each point runs, in a fresh process, the full-mode path of notebook 03 and
`tinyml train-reference --app keyword_spotting`: index the folder, decode every clip once
into the float16 feature cache (an EMPTY cache per point, so decoding is measured), split
by speaker, normalise, train with batches augmented on the fly (one epoch: memory does not
grow with epochs), evaluate on the test speakers. The points are deterministic subsets of
the real clips (``max_per_word``); the process's peak RSS (VmHWM) is read at the end. A
straight line through the points is extrapolated to the 105,829 clips of the full v0.02
corpus and compared with the 3 GB target, and with what the earlier path needed (all
waveforms as float32 plus 4 augmented copies: 5 x 64 KB per clip, before features).

    TINYML_DATA_DIR=../shared/data python scripts/kws_memory.py
writes benchmarks/kws_memory.csv and benchmarks/kws_memory.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FULL_CORPUS_CLIPS = 105_829
TARGET_GB = 3.0
OLD_BYTES_PER_CLIP = 5 * 16000 * 4  # float32 waveform + 4 augmented copies

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from tinyml_utils import apps
from tinyml_utils.model import train as T
from tinyml_utils.model.cnn import build_cnn
T.configure_threads(1, 1)
mpw = None if sys.argv[2] == "all" else int(sys.argv[2])
data = apps.prepare("keyword_spotting", source="local", data_dir=sys.argv[1], max_per_word=mpw)
model = build_cnn(apps.default_spec("keyword_spotting", data), seed=0)
T.train(model, data, epochs=1, batch_size=64, verbose=0, patience=None)
T.evaluate_keras(model, data.x_test, data.y_test, data.class_names)
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
n = len(data.y_train) + len(data.y_val) + len(data.y_test)
print("RESULT " + json.dumps({"clips": n, "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
                              "seconds": round(time.perf_counter() - t0, 1)}))
"""


def measure(data_dir: Path, max_per_word: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="kws_mem_") as cache:
        env = {**os.environ, "TINYML_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        env.update(TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(data_dir), max_per_word],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cache_bytes = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file())
    row = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    row["max_per_word"] = max_per_word
    row["feature_cache_mb"] = round(cache_bytes / 2**20, 2)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(os.environ.get("TINYML_DATA_DIR", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data-dir", type=Path, default=default / "keyword_spotting")
    parser.add_argument("--points", default="30,75,150,all", help="max_per_word values")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the .md from the existing .csv"
    )
    args = parser.parse_args()
    if args.render_only:
        table = pd.read_csv(args.out / "kws_memory.csv", dtype={"max_per_word": str})
    else:
        rows = []
        for mpw in args.points.split(","):
            rows.append(measure(args.data_dir, mpw))
            print(rows[-1], flush=True)
        table = pd.DataFrame(rows)[
            ["max_per_word", "clips", "peak_rss_mb", "feature_cache_mb", "seconds"]
        ]
    slope, intercept = np.polyfit(table["clips"], table["peak_rss_mb"], 1)
    full_mb = intercept + slope * FULL_CORPUS_CLIPS
    cache_per_clip = table["feature_cache_mb"].iloc[-1] / table["clips"].iloc[-1]
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "kws_memory.csv", index=False)
    verdict = "meets" if full_mb / 1024 <= TARGET_GB else "MISSES"
    lines = [
        "# Keyword spotting: peak memory against the number of clips",
        "",
        "Written by `scripts/kws_memory.py`; do not edit by hand. Each row is one fresh "
        "process running the full-mode KWS path (feature cache built from an empty cache, "
        "split by speaker, one epoch of on-the-fly augmented training, evaluation) on a "
        "deterministic subset of the real Speech Commands clips in "
        f"`{args.data_dir.name}/` (`max_per_word`); peak RSS = the process's VmHWM.",
        "",
        table.to_markdown(index=False),
        "",
        f"Linear fit: peak RSS = {intercept:,.0f} MB + {slope * 1000:,.1f} MB per 1,000 clips "
        f"(the fixed part is Python, TensorFlow and the model).",
        f"Extrapolated to the full v0.02 corpus ({FULL_CORPUS_CLIPS:,} clips): "
        f"**{full_mb:,.0f} MB ({full_mb / 1024:.2f} GB)**, which {verdict} the "
        f"{TARGET_GB:.0f} GB target; its feature cache on disk: "
        f"{cache_per_clip * FULL_CORPUS_CLIPS:,.0f} MB.",
        f"Caveat: the largest measured point holds {table['clips'].max():,} clips (all the "
        f"shared data), so this extrapolates {FULL_CORPUS_CLIPS / table['clips'].max():.0f}x "
        "beyond it; what grows with the clips is the features (float16 in the cache, float32 "
        "in the prepared splits, about 4 KB per clip), no waveform is kept.",
        f"The earlier path (all waveforms as float32 plus 4 augmented copies) needed "
        f"{OLD_BYTES_PER_CLIP * FULL_CORPUS_CLIPS / 2**30:.1f} GB for the clips alone.",
        "",
    ]
    (args.out / "kws_memory.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
