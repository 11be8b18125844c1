"""Global LSTM forecaster: one Keras model over windows of every series (multi-task).

Each window (``window`` periods, features from ``windows.py``) feeds ``Input -> LSTM -> Dense``
with two heads trained together: ``engage`` (sigmoid, BCE), the probability that the series
is engaged at least once within the next j periods (j = 1..horizon_train), and ``intensity``,
log1p of the interest accumulated over the next j periods (standardised, L1 loss). L1 on a
monotone transform of the running total learns its conditional median, what MAE on horizon
totals rewards; per-step forecasts are the increments. (Measured on Tmall user totals: MSE on
per-step log1p lost to a window mean in one fold of three, L1 on the running total won all.)
Intervals are split-conformal on the held-out latest windows (``conformal``). TensorFlow is
imported lazily inside methods only: importing this module stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from interest_core.errors import ArtifactError, ModelError
from interest_core.forecasting.forecasters import windows as W
from interest_core.forecasting.forecasters.base import (
    Forecaster,
    ProgressCallback,
    check_levels,
    forecast_frame,
    future_periods,
    validate_training_frame,
)
from interest_core.forecasting.forecasters.conformal import apply_quantiles, residual_quantiles, series_scale

log = logging.getLogger(__name__)
MODEL_FILE = "model.keras"
WINDOWS_FILE = "windows.npz"
VAL_SHARE = 0.2  # share of windows (those ending latest) held out for early stopping and conformal
PREDICT_BATCH = 8192


def _keras() -> Any:
    """Import Keras on TensorFlow on first use (seconds, ~500 MiB), quietly.

    Defaults only (an exported variable wins): TensorFlow's C++ log lines (a oneDNN notice and a
    harmless tf.data NodeDef complaint) would garble the CLI's progress bar, and oneDNN's
    reordered float sums are off (measured: same AUC to 4 decimals and the same epoch time).
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


def _device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU:0 ({gpus[0].name})" if gpus else "CPU"


@dataclass(frozen=True)
class TrainingArrays:
    """What one fit trains on: window views, labels, and the (series, end period) of each window."""

    mat: W.SeriesMatrix
    view: np.ndarray  # (n, T, window, channels) view: the window of series i ending at period t
    engaged: np.ndarray  # (n, T - horizon, horizon) "engaged within j steps" labels
    train: tuple[np.ndarray, np.ndarray]  # (series, end period) of each training window
    val: tuple[np.ndarray, np.ndarray]  # same for the held-out latest windows
    x_train: np.ndarray
    y_train: dict[str, np.ndarray]
    x_val: np.ndarray
    y_val: dict[str, np.ndarray]


class LSTMForecaster(Forecaster):
    """LSTM(units) over ``window``-period windows -> engagement probability + intensity per step."""

    name: ClassVar[str] = "lstm"
    ranking_score: ClassVar[str] = "p_engage"  # its engage head is its own ranking score (backtest ranks by it)
    learned: ClassVar[tuple[str, ...]] = ("channels_", "calendar_", "mean_", "std_", "reg_mean_", "reg_std_",
                                          "device_", "conformal_", "train_info_", "ids_")
    files: ClassVar[tuple[str, ...]] = (MODEL_FILE, WINDOWS_FILE)

    def __init__(self, window: int = 8, units: int = 32, epochs: int = 20, batch_size: int = 512,
                 patience: int = 3, seed: int = 0, horizon_train: int = 4, learning_rate: float = 3e-3,
                 max_users: int | None = None) -> None:
        self.window = window
        self.units = units
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.seed = seed
        self.horizon_train = horizon_train
        self.learning_rate = learning_rate
        self.max_users = max_users  # train on the windows of at most this many users (a seeded sample); None: all

    # -- fitting --------------------------------------------------------------------------------
    def _check_params(self) -> None:
        for name in ("window", "units", "epochs", "batch_size", "horizon_train"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"LSTM parameter {name}={getattr(self, name)} must be >= 1", f"pass {name}=1 or more")

    def _fit(self, df: pd.DataFrame, freq: str, progress: ProgressCallback | None) -> None:
        self._check_params()
        keras = _keras()
        import tensorflow as tf

        keras.utils.set_random_seed(int(self.seed))
        tf.config.experimental.enable_op_determinism()  # same seed, same weights on CPU
        self.device_ = _device()
        log.info("LSTM training on %s", self.device_)

        arrays = self._training_arrays(df, freq)
        mat, view, horizon = arrays.mat, arrays.view, int(self.horizon_train)
        (train_s, _), (val_s, val_t) = arrays.train, arrays.val
        model = self._build(len(self.channels_), horizon)
        callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(self.patience),
                                                   restore_best_weights=True)]
        if progress is not None:
            callbacks.append(_progress_callback(keras, progress, int(self.epochs)))
        history = model.fit(
            arrays.x_train, arrays.y_train, validation_data=(arrays.x_val, arrays.y_val),
            epochs=int(self.epochs), batch_size=int(self.batch_size), shuffle=True, verbose=0, callbacks=callbacks,
        )
        self.model_ = model
        losses = history.history.get("val_loss", [])
        self.train_info_: dict[str, Any] = {
            "windows_train": len(train_s), "windows_val": len(val_s), "epochs_run": len(losses),
            "best_val_loss": float(min(losses)) if losses else None,
            "val_positive_rate": float(arrays.engaged[val_s, val_t, horizon - 1].mean()),
            "users_trained": len(np.unique(mat.user_codes[train_s])) if mat.user_codes is not None else None,
        }
        # Conformal quantiles of per-step errors on the held-out latest windows, scaled by each
        # window's mean level (conformal.series_scale) so heavy series get wider intervals.
        _, val_steps = self._run(arrays.x_val)
        actual = W.future_steps(mat.y, horizon)[val_s, val_t]
        val_scale = series_scale(W.raw_windows(mat.y, int(self.window))[val_s, val_t])
        self.conformal_ = residual_quantiles(actual, val_steps, scale=val_scale)
        self.ids_ = mat.ids
        self.last_windows_ = np.ascontiguousarray(view[:, -1])
        self.last_scale_ = series_scale(mat.y[:, -int(self.window):])
        if progress is not None:
            progress(1.0, f"trained on {self.device_}: {len(train_s):,} windows, {len(losses)} epochs")

    def _training_arrays(self, df: pd.DataFrame, freq: str) -> TrainingArrays:
        """Windows and targets ``_fit`` trains on; sets the feature state (calendar, channels, normaliser).

        ``df`` is a validated training frame (``Forecaster.fit`` validates). bench/forecast.py feeds
        the same arrays to a bare Keras model of the same architecture.
        """
        mat = W.series_matrix(df)
        horizon = int(self.horizon_train)
        positions = mat.y.shape[1] - horizon  # window ends with a full future of `horizon` periods
        if positions < 2:
            raise ModelError(f"{mat.y.shape[1]} periods are too few to train for {horizon} steps ahead",
                             f"give at least {horizon + 2} periods of history or lower horizon_train")
        active = W.active_mask(mat.y)[:, :positions]
        n_train = positions - W.validation_positions(active.sum(axis=0), VAL_SHARE)
        self.calendar_ = W.covers_season(mat.y.shape[1], freq)
        self.channels_ = W.channel_names(mat.user_codes is not None, self.calendar_)
        features = W.feature_tensor(mat, freq, self.calendar_)
        # Training statistics only: periods the training windows can see.
        mean, std = W.fit_normaliser(features[:, :n_train], self.channels_)
        self.mean_, self.std_ = mean, std
        view = W.windows_view(features, mean, std, int(self.window))
        engaged, intensity = W.future_targets(mat.y, horizon)
        active = active & self._sampled(mat)[:, None]
        train_s, train_t = np.nonzero(active[:, :n_train])
        val_s, val_t = np.nonzero(active[:, n_train:])
        val_t = val_t + n_train
        if len(train_s) == 0 or len(val_s) == 0:
            raise ModelError("no active training or validation windows", "use a longer training range")
        reg = intensity[train_s, train_t]
        self.reg_mean_, self.reg_std_ = float(reg.mean()), float(max(reg.std(), 1e-6))

        def targets(s: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
            return {"engage": engaged[s, t], "intensity": (intensity[s, t] - self.reg_mean_) / self.reg_std_}

        return TrainingArrays(mat, view, engaged, (train_s, train_t), (val_s, val_t),
                              view[train_s, train_t], targets(train_s, train_t),
                              view[val_s, val_t], targets(val_s, val_t))

    def _sampled(self, mat: W.SeriesMatrix) -> np.ndarray:
        """Series whose windows train the model: those of ``max_users`` users drawn with the seed (all by default).

        Features (category popularity included) still come from the whole frame; every series is forecast.
        """
        groups = mat.user_codes if mat.user_codes is not None else np.arange(len(mat.ids))
        n_groups = int(groups.max()) + 1 if len(groups) else 0
        if self.max_users is None or n_groups <= int(self.max_users):
            return np.ones(len(groups), dtype=bool)
        if int(self.max_users) < 1:
            raise ModelError(f"LSTM parameter max_users={self.max_users} must be >= 1", "pass max_users >= 1 or None")
        chosen = np.random.default_rng(int(self.seed)).choice(n_groups, size=int(self.max_users), replace=False)
        return np.isin(groups, chosen)

    def _build(self, n_channels: int, horizon: int) -> Any:
        keras = _keras()
        inputs = keras.Input(shape=(int(self.window), n_channels), name="window")
        hidden = keras.layers.LSTM(int(self.units), name="lstm")(inputs)
        hidden = keras.layers.Dense(int(self.units), activation="relu", name="shared")(hidden)
        engage = keras.layers.Dense(horizon, activation="sigmoid", name="engage")(hidden)
        intensity = keras.layers.Dense(horizon, name="intensity")(hidden)
        model = keras.Model(inputs, {"engage": engage, "intensity": intensity}, name="lstm_forecaster")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(self.learning_rate)),
                      loss={"engage": "binary_crossentropy", "intensity": "mean_absolute_error"})
        return model

    # -- prediction -----------------------------------------------------------------------------
    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(engaged within j steps), forecast interest at step j) per window, j = 1..horizon_train."""
        if len(x) == 0:
            h = int(self.horizon_train)
            return np.zeros((0, h)), np.zeros((0, h))
        out = self.model_.predict(x, batch_size=PREDICT_BATCH, verbose=0)
        # Cumulative quantities cannot shrink as j grows: enforce what the labels guarantee.
        p_any = np.maximum.accumulate(np.asarray(out["engage"], dtype=float), axis=1)
        log_total = np.asarray(out["intensity"], dtype=float) * self.reg_std_ + self.reg_mean_
        total = np.maximum.accumulate(np.expm1(np.clip(log_total, 0.0, None)), axis=1)
        return p_any, np.diff(total, axis=1, prepend=0.0)

    def _forecast(self, ids: np.ndarray, x: np.ndarray, scale: np.ndarray, last: pd.Timestamp, h: int,
                  levels: tuple[int, ...]) -> pd.DataFrame:
        if h > int(self.horizon_train):
            raise ModelError(f"this LSTM was trained for {self.horizon_train} periods ahead, not {h}",
                             f"ask for h <= {self.horizon_train} or refit with horizon_train={h}")
        p_any, steps = self._run(x)
        yhat = steps[:, :h]
        intervals = apply_quantiles(yhat, self.conformal_, levels, scale=scale)
        return forecast_frame(ids, future_periods(last, h, self.freq_), self.name, yhat, p_any[:, h - 1], intervals)

    def _predict(self, h: int, levels: tuple[int, ...]) -> pd.DataFrame:
        return self._forecast(self.ids_, self.last_windows_, self.last_scale_, self.last_period_, h, levels)

    def predict_frame(self, df: pd.DataFrame, h: int, level: Sequence[int] | None = None) -> pd.DataFrame:
        """Forecast the series of a new frame (same shape as a training frame) with the fitted weights."""
        self.check_fitted()
        frame = validate_training_frame(df)
        mat = W.series_matrix(frame)
        channels = W.channel_names(mat.user_codes is not None, self.calendar_)
        if channels != tuple(self.channels_):
            raise ModelError("this frame's columns do not match what the model was trained on",
                             "score with the same target (engagement frames carry user_id and category)")
        features = W.feature_tensor(mat, self.freq_, self.calendar_)
        view = W.windows_view(features, self.mean_, self.std_, int(self.window))
        return self._forecast(mat.ids, np.ascontiguousarray(view[:, -1]), series_scale(mat.y[:, -int(self.window):]),
                              mat.periods[-1], h, check_levels(level))

    # -- persistence: the network and the last windows go to binary files beside state.json ---------
    def _write_files(self, folder: Path) -> None:
        self.model_.save(str(folder / MODEL_FILE))
        with open(folder / WINDOWS_FILE, "wb") as fh:  # a file handle: np.savez must not append ".npz"
            np.savez(fh, last_windows=self.last_windows_.astype(np.float32), last_scale=self.last_scale_)

    def _read_files(self, paths: dict[str, Path]) -> None:
        keras = _keras()
        try:
            self.model_ = keras.saving.load_model(str(paths[MODEL_FILE]), compile=False, safe_mode=True)
            with np.load(paths[WINDOWS_FILE], allow_pickle=False) as npz:
                self.last_windows_ = np.asarray(npz["last_windows"], dtype=np.float32)
                self.last_scale_ = np.asarray(npz["last_scale"], dtype=float)
        except (KeyError, ValueError, OSError) as exc:
            raise ArtifactError(f"LSTM files could not be loaded ({str(exc)[:160]})",
                                "save the model again with persist.save_model") from None
        if self.last_windows_.shape[0] != len(self.ids_):
            raise ArtifactError(f"{WINDOWS_FILE} holds {self.last_windows_.shape[0]} series, state.json "
                                f"{len(self.ids_)}", "save the model again with persist.save_model")


def _progress_callback(keras: Any, progress: ProgressCallback, epochs: int) -> Any:
    class EpochProgress(keras.callbacks.Callback):  # type: ignore[misc, name-defined]
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            progress(min(0.99, (epoch + 1) / epochs),
                     f"epoch {epoch + 1}/{epochs} loss {logs.get('loss', float('nan')):.4f} "
                     f"val {logs.get('val_loss', float('nan')):.4f}")

    return EpochProgress()
