"""How the next_interest LSTM's settings were chosen: on a validation split before the first test cutoff only.

The split: the Tmall weekly log cut at the first test cutoff of the 3-fold backtest (2013-05-13, weeks
2013-04-15 .. 05-13, the only data no test window has seen); users held out of training (``val_share``,
the same split the model early-stops on), scored at every training position of the window with the
next ``horizon`` weeks inside it as target. Printed per setting: held-out recall@10 of the logits
alone and with the learnt known-category blend, the held-out loss, epochs and fit time. No test
window (2013-05-20 onwards) is read: the panel is cut before the model sees it.

    .venv/bin/python bench/tune_next_interest.py [--cutoff 2013-05-13] [--horizon 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.forecast import TMALL  # after the path above
from interest_core.config import PanelSpec
from interest_core.forecasting.next_interest import make_next_interest
from interest_core.forecasting.next_interest.history import InterestHistory, history_from_panel
from interest_core.ingest import pipeline
from interest_core.panel import build_panel, events_source
from interest_core.store import Store

# (dim, units, learning rate, window): the grid searched (the first was the earlier default); the one with the
# best blended held-out recall@10 became the default (32, 64, 3e-3, 8).
GRID: tuple[tuple[int, int, float, int], ...] = (
    (32, 64, 1e-2, 8), (16, 32, 1e-2, 8), (32, 64, 3e-3, 8), (64, 64, 1e-2, 8), (32, 64, 1e-2, 4))


def validation_history(workdir: Path, cutoff: pd.Timestamp) -> tuple[pd.DataFrame, InterestHistory]:
    with Store(workdir / "tune.duckdb") as store:
        pipeline.ingest(store, TMALL, name="tmall")
        panel = build_panel(events_source(store, "tmall"), PanelSpec(freq="W"))
    before = panel[panel["period"] <= cutoff]  # nothing from a test window
    return before, history_from_panel(before, "W", pd.Timestamp(before["period"].min()), cutoff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cutoff", default="2013-05-13", help="the first test cutoff: data after it is never read")
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--workdir", default="/tmp/tune_next_interest")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _, history = validation_history(workdir, pd.Timestamp(args.cutoff))
    print(f"validation split: {len(history.periods)} weeks up to {args.cutoff}, {history.shape[0]} users, "
          f"{history.shape[1]} brands, horizon {args.horizon}")
    print("dim units lr      window | recall@10 logits  blended (known, popularity weights) | val loss epochs fit_s")
    for dim, units, lr, window in GRID:
        started = time.perf_counter()
        model = make_next_interest("lstm", dim=dim, units=units, learning_rate=lr, window=window)
        info = model.fit(history, args.horizon).train_info_
        recalls = info["val_recall_by_weight"]
        print(f"{dim:3d} {units:5d} {lr:<7g} {window:6d} | {recalls.get('0,0', float('nan')):16.4f} "
              f"{max(recalls.values()):8.4f} ({info['blend_weight']:g}, {info['popularity_weight']:g}) | "
              f"{info['best_val_loss']:8.4f} "
              f"{info['epochs_run']:6d} {time.perf_counter() - started:5.1f}")


if __name__ == "__main__":
    main()
