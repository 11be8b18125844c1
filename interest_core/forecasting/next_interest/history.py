"""What a next-interest model learns from: each user's interest in every category, period by period.

One sparse (users x categories) matrix per period of the training window: the Tmall log (884 users,
9,531 brands, 17 weeks) is about 70 k non-zero cells, where a dense cube would hold 140 M.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import sparse

from interest_core.errors import ArtifactError, ModelError, NotFittedError
from interest_core.periods import period_grid

HISTORY_FILE = "history.npz"


@dataclass(frozen=True)
class InterestHistory:
    """Interest per period as sparse (users x categories) matrices, oldest period first."""

    users: np.ndarray  # str, row order
    categories: np.ndarray  # str, column order
    periods: pd.DatetimeIndex
    interest: tuple[sparse.csr_matrix, ...]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.users), len(self.categories)

    def subset(self, rows: Any) -> InterestHistory:
        """The history of the users at ``rows`` only (same categories and periods)."""
        rows = np.asarray(rows, dtype=int)
        return InterestHistory(users=self.users[rows], categories=self.categories, periods=self.periods,
                               interest=tuple(mat[rows] for mat in self.interest))

    def decayed(self, half_life: float, end: int | None = None) -> sparse.csr_matrix:
        """Interest summed over periods [0, end) with weight 0.5 ** (age / half_life), age 0 = period end-1."""
        stop = len(self.periods) if end is None else end
        out = sparse.csr_matrix(self.shape)
        for t in range(stop):
            out = out + self.interest[t] * (0.5 ** ((stop - 1 - t) / half_life))
        return out.tocsr()

    def window(self, start: int, stop: int) -> sparse.csr_matrix:
        """Interest summed over periods [start, stop)."""
        out = sparse.csr_matrix(self.shape)
        for t in range(max(start, 0), min(stop, len(self.periods))):
            out = out + self.interest[t]
        return out.tocsr()

    def popularity(self, window: int, end: int | None = None) -> np.ndarray:
        """Distinct users with interest in each category over the ``window`` periods before ``end``."""
        stop = len(self.periods) if end is None else end
        seen = self.window(stop - window, stop)
        return np.asarray((seen > 0).sum(axis=0), dtype=float).ravel()


def write_history(history: InterestHistory, path: Path) -> None:
    """The history as one .npz of plain arrays (no pickle): ids, period starts and the cells of every period."""
    coo = [mat.tocoo() for mat in history.interest]
    with open(path, "wb") as fh:  # a file handle: np.savez must not append ".npz"
        np.savez_compressed(
            fh, users=history.users.astype(str), categories=history.categories.astype(str),
            periods=history.periods.as_unit("ns").asi8, freq=np.array(str(history.periods.freqstr or "")),
            slot=np.concatenate([np.full(m.nnz, t, dtype=np.int32) for t, m in enumerate(coo)]),
            row=np.concatenate([m.row for m in coo]).astype(np.int32),
            col=np.concatenate([m.col for m in coo]).astype(np.int32),
            value=np.concatenate([m.data for m in coo]).astype(np.float64))


def read_history(path: Path) -> InterestHistory:
    try:
        with np.load(path, allow_pickle=False) as npz:
            users, categories = npz["users"].astype(str), npz["categories"].astype(str)
            periods = pd.DatetimeIndex(npz["periods"].astype("datetime64[ns]"))
            slot, row, col, value = npz["slot"], npz["row"], npz["col"], npz["value"]
    except (KeyError, ValueError, OSError) as exc:
        raise ArtifactError(f"{path.name} could not be read ({str(exc)[:160]})",
                            "save the model again with persist.save_model") from None
    shape = (len(users), len(categories))
    if len(row) and (row.max() >= shape[0] or col.max() >= shape[1] or slot.max() >= len(periods)):
        raise ArtifactError(f"{path.name} holds cells outside its users x categories x periods",
                            "save the model again with persist.save_model")
    mats = tuple(sparse.csr_matrix((value[slot == t], (row[slot == t], col[slot == t])), shape=shape)
                 for t in range(len(periods)))
    return InterestHistory(users=users, categories=categories, periods=periods, interest=mats)


def history_from_panel(panel: pd.DataFrame, freq: str, start: pd.Timestamp, end: pd.Timestamp) -> InterestHistory:
    """The history of every user and category with interest in periods [start, end] of a long panel."""
    part = panel[(panel["period"] >= start) & (panel["period"] <= end) & (panel["interest"] > 0)]
    if part.empty:
        raise ModelError(f"no interest between {start.date()} and {end.date()}", "pick a later cutoff or more data")
    periods = period_grid(start, end, freq)
    users, rows = np.unique(part["user_id"].astype(str).to_numpy(), return_inverse=True)
    categories, cols = np.unique(part["category"].astype(str).to_numpy(), return_inverse=True)
    slot = periods.get_indexer(pd.DatetimeIndex(part["period"]))
    values = part["interest"].to_numpy(dtype=float)
    mats = tuple(sparse.csr_matrix((values[slot == t], (rows[slot == t], cols[slot == t])),
                                   shape=(len(users), len(categories))) for t in range(len(periods)))
    return InterestHistory(users=users, categories=categories, periods=periods, interest=mats)


def history_from_cells(cells: pd.DataFrame, categories: np.ndarray, periods: pd.DatetimeIndex,
                       users: Any = None) -> InterestHistory:
    """The history of ``users`` (default: those in ``cells``) on a model's own categories and periods.

    ``cells`` holds (user_id, category, period, interest) rows, e.g. one batch of users read from DuckDB;
    cells of other categories or periods are dropped (a model cannot score what it never saw).
    """
    ids = np.asarray(cells["user_id"].astype(str).to_numpy() if users is None else users).astype(str)
    user_list = np.unique(ids) if users is None else ids
    rows = pd.Index(user_list).get_indexer(cells["user_id"].astype(str).to_numpy())
    cols = pd.Index(categories).get_indexer(cells["category"].astype(str).to_numpy())
    slot = periods.get_indexer(pd.DatetimeIndex(cells["period"]))
    values = cells["interest"].to_numpy(dtype=float)
    keep = (rows >= 0) & (cols >= 0) & (slot >= 0) & (values > 0)
    rows, cols, slot, values = rows[keep], cols[keep], slot[keep], values[keep]
    shape = (len(user_list), len(categories))
    mats = tuple(sparse.csr_matrix((values[slot == t], (rows[slot == t], cols[slot == t])), shape=shape)
                 for t in range(len(periods)))
    return InterestHistory(users=user_list, categories=np.asarray(categories), periods=periods, interest=mats)


class NextInterestModel(ABC):
    """Ranks every category for each user over the next ``horizon`` periods (scikit-learn style).

    ``fit(history, horizon)`` returns self; ``score(rows)`` gives a (len(rows) x categories) array,
    higher = more likely to hold interest in the next horizon. Learned state ends in ``_``.
    """

    name: ClassVar[str] = "next_interest"
    learned: ClassVar[tuple[str, ...]] = ()  # JSON-able learned attributes saved beside the history
    files: ClassVar[tuple[str, ...]] = (HISTORY_FILE,)

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self._param_names()}

    def clone(self) -> Self:
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def fit(self, history: InterestHistory, horizon: int) -> Self:
        if horizon < 1:
            raise ModelError(f"horizon={horizon}", "pass horizon >= 1 periods")
        self.history_ = history
        self.horizon_ = horizon
        self._fit(history, horizon)
        return self

    def check_fitted(self) -> None:
        if not hasattr(self, "history_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted", "call fit(history, horizon) first")

    def score(self, rows: np.ndarray) -> np.ndarray:
        self.check_fitted()
        return self._score_in(self.history_, np.asarray(rows, dtype=int))

    def check_aligned(self, history: InterestHistory) -> None:
        """``history`` must hold the model's categories and periods (``history_from_cells`` builds one)."""
        self.check_fitted()
        if not np.array_equal(history.categories, self.history_.categories) or not history.periods.equals(
                self.history_.periods):
            raise ModelError("the history to score is not on the model's categories and periods",
                             "build it with history_from_cells(cells, model.history_.categories, "
                             "model.history_.periods)")

    def rows_of(self, user_ids: Any) -> np.ndarray:
        """Row numbers of ``user_ids`` in the history; unknown users raise a ModelError naming one."""
        self.check_fitted()
        wanted = np.asarray(user_ids).astype(str)
        rows = pd.Index(self.history_.users).get_indexer(wanted)
        if (rows < 0).any():
            raise ModelError(f"user {wanted[rows < 0][0]!r} is not in the model's history",
                             "score users the model was fitted on, or refit it on a later cutoff")
        return rows

    def top_categories(self, user_ids: Any, k: int = 10, batch_size: int = 1024) -> pd.DataFrame:
        """The k best categories per user (user_id, rank 1..k, category, score), scored ``batch_size`` users at a
        time: memory is one (batch x categories) block however many users are asked for."""
        rows = self.rows_of(user_ids)
        parts = [self._top(self.history_, rows[start:start + batch_size], k)
                 for start in range(0, len(rows), batch_size)]
        columns = ["user_id", "rank", "category", "score"]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)

    def top_categories_in(self, history: InterestHistory, k: int = 10) -> pd.DataFrame:
        """``top_categories`` for every user of another history on the model's categories and periods (one batch
        of users read from the store, say), scored as of the model's last period."""
        self.check_aligned(history)
        return self._top(history, np.arange(len(history.users)), k)

    def _top(self, history: InterestHistory, rows: np.ndarray, k: int) -> pd.DataFrame:
        k = min(int(k), len(self.history_.categories))
        scores = self._score_in(history, rows)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return pd.DataFrame({
            "user_id": np.repeat(history.users[rows], k), "rank": np.tile(np.arange(1, k + 1), len(rows)),
            "category": self.history_.categories[top.ravel()],
            "score": np.take_along_axis(scores, top, axis=1).ravel().astype(float)})

    # -- persistence (persist.save_model / load_next_interest): the history file, learned scalars, binaries ----
    def to_state(self) -> dict[str, Any]:
        self.check_fitted()
        return {"horizon": int(self.horizon_), **{a: getattr(self, a) for a in self.learned}}

    def write_files(self, folder: Path) -> list[str]:
        self.check_fitted()
        write_history(self.history_, folder / HISTORY_FILE)
        self._write_files(folder)
        return list(self.files)

    @classmethod
    def from_state(cls, params: Mapping[str, Any], state: Mapping[str, Any], files: Mapping[str, Path]) -> Self:
        """A fitted model from its parameters, ``to_state`` output and files (what a save wrote)."""
        model = cls(**dict(params))
        history = read_history(files[HISTORY_FILE])
        model.history_, model.horizon_ = history, int(state["horizon"])
        for attr in cls.learned:
            setattr(model, attr, state[attr])
        model._restore(history, model.horizon_, files)
        return model

    def _write_files(self, folder: Path) -> None:  # noqa: B027 - optional hook: the baselines write nothing more
        """Binary files beyond the history (the LSTM's network)."""

    def _restore(self, history: InterestHistory, horizon: int, files: Mapping[str, Path]) -> None:
        """Rebuild what scoring needs after a load; the baselines are a deterministic function of the history."""
        self._fit(history, horizon)

    @abstractmethod
    def _fit(self, history: InterestHistory, horizon: int) -> None: ...

    @abstractmethod
    def _score_in(self, history: InterestHistory, rows: np.ndarray) -> np.ndarray:
        """Scores of the users at ``rows`` of ``history`` (the training history or one aligned on it)."""
