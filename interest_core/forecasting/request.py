"""The training request: one typed object, built by one constructor for the CLI and the Forecasts page.

``TrainRequest.build`` applies every default in one place (the grouping of category demand into
the top 20 + other, the LSTM's ``horizon_train``, where the model and its backtest are written),
so a model fitted from the CLI is trained exactly as one trained from the page. It travels to the
worker as JSON (``to_dict`` / ``from_dict``, validated when read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from interest_core.config import GroupingSpec, PanelSpec
from interest_core.errors import MalformedFileError, ModelError
from interest_core.forecasting.backtest import TARGETS

DEFAULT_TOP_K: dict[str, int] = {"category_demand": 20}  # demand of the top 20 categories + other


@dataclass(frozen=True)
class TrainRequest:
    """Backtest ``models`` on ``target``, then fit ``model`` on all complete periods and save it."""

    dataset: str
    dataset_sha256: str
    target: str
    freq: str
    horizon: int
    folds: int
    model: str
    models: tuple[str, ...]
    model_dir: str
    backtest_path: str
    panel_spec: PanelSpec
    params: dict[str, Any] = field(default_factory=dict)
    step: int = 1
    top_k: int | None = None
    data_end: str | None = None  # ISO timestamp of the dataset's last event (drops a partial last period)

    @classmethod
    def build(cls, *, dataset: str, dataset_sha256: str, target: str, freq: str, horizon: int, folds: int,
              model: str, models_dir: str | Path | None = None, model_dir: str | Path | None = None,
              data_end: Any = None, top_k: int | None = None, step: int = 1, compare: Sequence[str] | None = None,
              params: Mapping[str, Any] | None = None) -> TrainRequest:
        """The one constructor. ``compare`` defaults to every baseline; ``model_dir`` to the catalog's folder."""
        from interest_core.forecasting import backtest
        from interest_core.forecasting.catalog import model_folder
        from interest_core.forecasting.forecasters import BASELINE_NAMES, forecaster_class, offered_models
        from interest_core.periods import check_freq

        if target not in TARGETS:
            raise ModelError(f"unknown target {target!r}", f"use one of {', '.join(TARGETS)}")
        if model not in offered_models(target):
            raise ModelError(f"{model!r} cannot be trained on {target} here",
                             "ARIMA fits one model per series: train it on user totals or category demand"
                             if model == "arima" else f"pick one of {', '.join(offered_models(target))}")
        if horizon < 1 or folds < 1 or step < 1:
            raise ModelError(f"horizon {horizon}, folds {folds} and step {step} must each be at least 1",
                             "raise them to 1 or more")
        if model_dir is None and models_dir is None:
            raise ModelError("no place to save the model", "pass models_dir or model_dir")
        folder = Path(model_dir) if model_dir is not None else model_folder(models_dir or ".", dataset, target, model)
        k = DEFAULT_TOP_K.get(target) if top_k is None else top_k
        grouping = GroupingSpec(method="topk", k=k) if k else GroupingSpec()
        model_params = dict(params or {})
        if "horizon_train" in forecaster_class(model)._param_names():  # the LSTM learns a fixed horizon
            model_params.setdefault("horizon_train", int(horizon))
        root = Path(models_dir) if models_dir is not None else folder.resolve().parent
        return cls(
            dataset=dataset, dataset_sha256=dataset_sha256, target=target, freq=check_freq(freq),
            horizon=int(horizon), folds=int(folds), model=model,
            models=tuple(dict.fromkeys([*(BASELINE_NAMES if compare is None else compare), model])),
            model_dir=str(folder), backtest_path=str(backtest.backtest_path(root, dataset, target, freq)),
            panel_spec=PanelSpec(freq=check_freq(freq), grouping=grouping), params=model_params, step=int(step),
            top_k=k or None, data_end=None if data_end is None else pd.Timestamp(data_end).isoformat(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "dataset_sha256": self.dataset_sha256, "target": self.target,
            "freq": self.freq, "horizon": self.horizon, "folds": self.folds, "model": self.model,
            "models": list(self.models), "model_dir": self.model_dir, "backtest_path": self.backtest_path,
            "panel_spec": self.panel_spec.to_dict(), "params": dict(self.params), "step": self.step,
            "top_k": self.top_k, "data_end": self.data_end,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "training request") -> TrainRequest:
        """Validated: a missing field or one of the wrong type raises MalformedFileError naming it."""
        if not isinstance(data, Mapping):
            raise MalformedFileError(f"{where} is not a JSON object", "write it with TrainRequest.to_dict")
        kinds: dict[str, type | tuple[type, ...]] = {
            "dataset": str, "dataset_sha256": str, "target": str, "freq": str, "horizon": int, "folds": int,
            "model": str, "models": list, "model_dir": str, "backtest_path": str, "panel_spec": dict,
            "params": dict, "step": int, "top_k": (int, type(None)), "data_end": (str, type(None)),
        }
        bad = [k for k, kind in kinds.items() if not isinstance(data.get(k), kind)
               or (kind is int and isinstance(data.get(k), bool))]
        if bad:
            raise MalformedFileError(f"{where}: field(s) {', '.join(bad)} missing or of the wrong type",
                                     "build the request with TrainRequest.build")
        try:
            spec = PanelSpec.from_dict(data["panel_spec"])
        except (TypeError, ValueError) as exc:
            raise MalformedFileError(f"{where}: panel_spec is invalid ({exc})",
                                     "build the request with TrainRequest.build") from None
        return cls(**{k: data[k] for k in kinds if k not in ("models", "panel_spec")},
                   models=tuple(str(m) for m in data["models"]), panel_spec=spec)
