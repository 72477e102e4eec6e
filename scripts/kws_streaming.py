"""Streaming keyword spotting with the committed reference model: DET curve and threshold.

Runs models/keyword_spotting/model_int8.tflite every hop (31.25 ms) over continuous
recordings built from held-out clips (validation speakers pick the threshold, test
speakers report it), with micro_speech-style smoothing and suppression
(tinyml_utils.apps.kws_streaming), and writes results/keyword_spotting/:
streaming_det_val.csv, streaming_det_test.csv, streaming_det.png and streaming.md.

    TINYML_DATA_DIR=../shared/data python scripts/kws_streaming.py
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from tinyml_utils.apps import kws_streaming  # noqa: E402
from tinyml_utils.core.paths import models_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(os.environ.get("TINYML_DATA_DIR", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data-dir", type=Path, default=default / "keyword_spotting")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-false-per-hour", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "keyword_spotting")
    args = parser.parse_args()
    folder = models_dir() / "keyword_spotting"
    params = json.loads((folder / "preprocessing.json").read_text())
    result = kws_streaming.evaluate_streaming(
        folder / "model_int8.tflite",
        params,
        data_dir=args.data_dir,
        repeats=args.repeats,
        max_false_per_hour=args.max_false_per_hour,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for part, det in result["det"].items():
        det.round(4).to_csv(args.out / f"streaming_det_{part}.csv", index=False)
    fig = kws_streaming.plot_det(
        {"validation speakers": result["det"]["val"], "test speakers": result["det"]["test"]},
        chosen=result["test"],
        title="keyword_spotting reference (int8), streaming",
    )
    fig.savefig(args.out / "streaming_det.png", dpi=120)
    table = result["det"]["test"][["threshold", "miss_rate", "false_per_hour"]].iloc[::4]
    lines = [
        "# keyword_spotting: the reference model on a continuous recording",
        "",
        "Written by `scripts/kws_streaming.py`; do not edit by hand. Model: "
        "`models/keyword_spotting/model_int8.tflite`; data: held-out speakers of its split "
        f"(`{args.data_dir.name}/`).",
        "",
        kws_streaming.summary_markdown(result),
        "",
        "Test recording, every 4th threshold (full tables: streaming_det_val.csv, "
        "streaming_det_test.csv; plot: streaming_det.png):",
        "",
        table.to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    (args.out / "streaming.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
