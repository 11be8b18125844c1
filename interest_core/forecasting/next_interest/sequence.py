"""A Keras model of what each user will care about next, learnt from the sequence of their interest.

Input per (user, position t): the categories the user touched in each of the ``window`` periods
before t (up to ``max_items`` per period, by interest), embedded and summed with log1p(interest)
weights (a bag of category embeddings per period), then an LSTM over the periods. The user vector
scores every category through an output embedding and bias (a softmax over all categories), plus a
small per-category network on three signals the sequence alone learns slowly: the user's own
recency-decayed interest in the category, whether the user ever touched it, and its recent
popularity. Trained with a multinomial likelihood (softmax cross-entropy against the normalised
set of categories the user touches in the next ``horizon`` periods), on the latest ``positions``
positions of the training window, early-stopped on held-out users (never on the test window).
Scores are the logits plus the recency prior (the user's own categories, the popularity of new ones) with
two weights picked by recall@``blend_k`` on the same held-out users (``blend``), since softmax likelihood
alone ranked known categories worse than recency decay does.
A full softmax over 10 k categories costs less than the LSTM here; sampled softmax is what past
~100 k categories would need.

TensorFlow is imported lazily (through the engagement LSTM's helper); CPU always, GPU when present.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy import sparse

from interest_core.errors import ArtifactError, ModelError
from interest_core.forecasting.next_interest.blend import choose_weights, known_prior, new_popularity
from interest_core.forecasting.next_interest.history import HISTORY_FILE, InterestHistory, NextInterestModel

log = logging.getLogger(__name__)
# Per-category signals, mixed linearly (a hidden layer over 10 k categories per example cost 4x the time):
# own decayed interest, ever touched, last period's interest, periods touched, popularity, popularity if new.
N_SIDE = 6
MODEL_FILE = "model.keras"
# Held-out windows the blend weights are chosen on, at most: its grid holds several (windows x categories)
# float64 blocks (20,000 sampled users x 3,000 categories peaked at 4.7 GB without this cap).
BLEND_EXAMPLES = 4096
SCORE_BATCH = 512  # users scored at once: a (batch x categories x N_SIDE) float32 block


def popularity_table(history: InterestHistory, pop_window: int) -> np.ndarray:
    """(periods + 1) x categories: log1p(distinct users over the ``pop_window`` periods before t), scaled to [0, 1]."""
    pops = [np.log1p(history.popularity(pop_window, end=t)) for t in range(len(history.periods) + 1)]
    return np.stack([p / max(p.max(), 1e-9) for p in pops]).astype(np.float32)


class SequenceArrays:
    """Per position t = 0..T: the inputs seen before t and the targets from t on, indexed by t * U + user."""

    def __init__(self, history: InterestHistory, window: int, max_items: int, half_life: float,
                 pop_window: int, horizon: int, popularity: np.ndarray | None = None, targets: bool = True) -> None:
        n_users, n_cats = history.shape
        n_periods = len(history.periods)
        self.n_users, self.n_cats, self.n_periods, self.window = n_users, n_cats, n_periods, window
        # Bag of each (user, period): the top max_items categories by interest, ids shifted by 1 (0 = none).
        self.ids = np.zeros((n_users, n_periods, max_items), dtype=np.int32)
        self.weights = np.zeros((n_users, n_periods, max_items), dtype=np.float32)
        for t, mat in enumerate(history.interest):
            for u in np.flatnonzero(np.diff(mat.indptr)):
                cols, vals = mat.indices[mat.indptr[u]:mat.indptr[u + 1]], mat.data[mat.indptr[u]:mat.indptr[u + 1]]
                top = np.argsort(-vals, kind="stable")[:max_items]
                self.ids[u, t, :len(top)] = cols[top] + 1
                self.weights[u, t, :len(top)] = np.log1p(vals[top])
        decay = 0.5 ** (1.0 / half_life)
        decayed = [sparse.csr_matrix((n_users, n_cats))]
        touched = [sparse.csr_matrix((n_users, n_cats))]
        for mat in history.interest:
            decayed.append((decayed[-1] * decay + mat).tocsr())
            touched.append((touched[-1] + (mat > 0).astype(np.float32)).tocsr())
        self.decayed = sparse.vstack(decayed).tocsr()  # row t * U + u: before period t
        self.touched = sparse.vstack(touched).tocsr()  # periods touched before t
        self.last = sparse.vstack([sparse.csr_matrix((n_users, n_cats)), *history.interest]).tocsr()
        # Popularity at every position: of this history's users, or given (the population a sample came from).
        self.popularity = popularity_table(history, pop_window) if popularity is None else popularity
        if targets:  # scoring needs none
            rows = [(history.window(t, t + horizon) > 0).astype(np.float32) for t in range(n_periods)]
            self.targets = sparse.vstack(rows).tocsr()  # row t * U + u: positives in [t, t + horizon)

    def examples(self, positions: int) -> tuple[np.ndarray, np.ndarray]:
        """(user, t) of the latest ``positions`` positions t with a history before t and a positive from t on."""
        first = max(1, self.n_periods - positions)
        t_all = np.repeat(np.arange(first, self.n_periods), self.n_users)
        u_all = np.tile(np.arange(self.n_users), self.n_periods - first)
        keys = t_all * self.n_users + u_all
        has_past = np.diff(self.decayed.indptr)[keys] > 0
        has_target = np.diff(self.targets.indptr)[keys] > 0
        keep = has_past & has_target
        return u_all[keep], t_all[keep]

    def inputs(self, users: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
        """Model inputs at positions (users, ts): the window of periods before t and the side signals."""
        steps = ts[:, None] - self.window + np.arange(self.window)[None, :]  # periods t - window .. t - 1
        valid = steps >= 0
        safe = np.where(valid, steps, 0)
        ids = np.where(valid[:, :, None], self.ids[users[:, None], safe], 0)
        weights = np.where(valid[:, :, None], self.weights[users[:, None], safe], 0.0).astype(np.float32)
        keys = ts * self.n_users + users
        side = np.empty((len(users), self.n_cats, N_SIDE), dtype=np.float32)
        touched = self.touched[keys].toarray()
        side[:, :, 0] = np.log1p(self.decayed[keys].toarray())
        side[:, :, 1] = touched > 0
        side[:, :, 2] = np.log1p(self.last[keys].toarray())
        side[:, :, 3] = np.log1p(touched)
        side[:, :, 4] = self.popularity[ts]
        side[:, :, 5] = side[:, :, 4] * (touched == 0)
        return {"items": ids.astype(np.int32), "item_weights": weights, "side": side}

    def target(self, users: np.ndarray, ts: np.ndarray) -> np.ndarray:
        y = self.targets[ts * self.n_users + users].toarray()
        return (y / np.maximum(y.sum(axis=1, keepdims=True), 1.0)).astype(np.float32)


def _batches(keras: Any, arrays: SequenceArrays, users: np.ndarray, ts: np.ndarray, batch_size: int,
             seed: int) -> Any:
    class Batches(keras.utils.PyDataset):  # type: ignore[misc, name-defined]
        """Dense per batch only: a (batch x categories) block, never the whole (examples x categories)."""

        def __init__(self) -> None:
            super().__init__()
            self.order = np.arange(len(users))
            self.rng = np.random.default_rng(seed)

        def __len__(self) -> int:
            return int(np.ceil(len(users) / batch_size))

        def __getitem__(self, i: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
            pick = self.order[i * batch_size:(i + 1) * batch_size]
            return arrays.inputs(users[pick], ts[pick]), arrays.target(users[pick], ts[pick])

        def on_epoch_end(self) -> None:
            self.rng.shuffle(self.order)

    return Batches()


class SequenceLSTM(NextInterestModel):
    """Category embeddings + LSTM over periods -> a softmax over every category (see the module docstring).

    Defaults chosen on a validation split before the first test cutoff only (bench/tune_next_interest.py: the
    Tmall log up to 2013-05-13, users held out of training, the best blended recall@10): dim 32 / units 64 /
    learning rate 3e-3 / window 8 reached 0.124, against 0.124 (32 / 64 / 1e-2 / 8), 0.122 (16 / 32 / 1e-2 / 8),
    0.121 (64 / 64 / 1e-2 / 8) and 0.121 (32 / 64 / 1e-2 / 4). The blend weights are learnt in every fit.
    """

    name: ClassVar[str] = "lstm"
    learned: ClassVar[tuple[str, ...]] = ("blend_weight_", "popularity_weight_", "train_info_", "device_")
    files: ClassVar[tuple[str, ...]] = (HISTORY_FILE, MODEL_FILE)

    def __init__(self, window: int = 8, max_items: int = 32, dim: int = 32, units: int = 64, epochs: int = 15,
                 batch_size: int = 256, patience: int = 2, learning_rate: float = 3e-3, half_life: float = 2.0,
                 pop_window: int = 4, positions: int = 8, val_share: float = 0.15, blend_k: int = 10,
                 max_users: int | None = 20_000, seed: int = 0) -> None:
        self.window = window
        self.max_items = max_items
        self.dim = dim
        self.units = units
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.learning_rate = learning_rate
        self.half_life = half_life
        self.pop_window = pop_window
        self.positions = positions
        self.val_share = val_share
        self.blend_k = blend_k
        self.max_users = max_users
        self.seed = seed

    def _build(self, keras: Any, n_cats: int) -> Any:
        items = keras.Input((self.window, self.max_items), dtype="int32", name="items")
        item_weights = keras.Input((self.window, self.max_items), name="item_weights")
        side = keras.Input((n_cats, N_SIDE), name="side")
        embedded = keras.layers.Embedding(n_cats + 1, self.dim, name="category_embedding")(items)
        bags = keras.ops.sum(embedded * keras.ops.expand_dims(item_weights, -1), axis=2)  # (batch, window, dim)
        state = keras.layers.LSTM(self.units, name="lstm")(bags)
        user = keras.layers.Dense(self.dim, activation="tanh", name="user")(state)
        learnt = keras.layers.Dense(n_cats, name="category_output")(user)  # output embedding + bias per category
        own = keras.ops.squeeze(keras.layers.Dense(1, name="side_weights")(side), -1)
        logits = keras.layers.Add(name="logits")([learnt, own])
        model = keras.Model([items, item_weights, side], logits, name="next_interest_lstm")
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                      loss=keras.losses.CategoricalCrossentropy(from_logits=True))
        return model

    def _arrays(self, history: InterestHistory, horizon: int, targets: bool = True) -> SequenceArrays:
        return SequenceArrays(history, int(self.window), int(self.max_items), float(self.half_life),
                              int(self.pop_window), horizon, popularity=self.popularity_table_, targets=targets)

    def _training_users(self, n_users: int) -> np.ndarray:
        """Rows trained on: a seeded sample of ``max_users`` users (None = all), so that training arrays,
        whose size grows with users x periods x max_items, stay bounded however large the log."""
        if self.max_users is None or n_users <= int(self.max_users):
            return np.arange(n_users)
        rng = np.random.default_rng([int(self.seed), 1])
        return np.sort(rng.choice(n_users, size=int(self.max_users), replace=False))

    def _write_files(self, folder: Path) -> None:
        self.model_.save(str(folder / MODEL_FILE))

    def _restore(self, history: InterestHistory, horizon: int, files: Mapping[str, Path]) -> None:
        from interest_core.forecasting.forecasters.lstm import _keras

        try:
            self.model_ = _keras().saving.load_model(str(files[MODEL_FILE]), compile=False, safe_mode=True)
        except (KeyError, ValueError, OSError) as exc:
            raise ArtifactError(f"{MODEL_FILE} could not be loaded ({str(exc)[:160]})",
                                "save the model again with persist.save_model") from None
        self.popularity_table_ = popularity_table(history, int(self.pop_window))
        if int(self.model_.output.shape[-1]) != len(history.categories):
            raise ArtifactError(f"{MODEL_FILE} scores {self.model_.output.shape[-1]} categories, the history holds "
                                f"{len(history.categories)}", "save the model again with persist.save_model")

    def _fit(self, history: InterestHistory, horizon: int) -> None:
        for param in ("window", "max_items", "dim", "units", "epochs", "batch_size", "positions", "max_users"):
            if getattr(self, param) is not None and int(getattr(self, param)) < 1:
                raise ModelError(f"lstm parameter {param}={getattr(self, param)} must be >= 1", f"pass {param} >= 1")
        from interest_core.forecasting.forecasters.lstm import _device, _keras

        keras = _keras()
        import tensorflow as tf

        keras.utils.set_random_seed(int(self.seed))
        tf.config.experimental.enable_op_determinism()
        self.device_ = _device()
        # Popularity over every user; the training windows of a sample of them (max_users).
        self.popularity_table_ = popularity_table(history, int(self.pop_window))
        trained = self._training_users(len(history.users))
        arrays = self._arrays(history if len(trained) == len(history.users) else history.subset(trained), horizon)
        users, ts = arrays.examples(int(self.positions))
        if not len(users):
            raise ModelError("no user has both a history and a later interest in the training window",
                             "use a later cutoff or a finer frequency")
        # Early stopping on held-out users (all their positions): never on the test window.
        rng = np.random.default_rng(int(self.seed))
        held = rng.random(arrays.n_users) < float(self.val_share)
        is_val = held[users]
        model = self._build(keras, arrays.n_cats)
        callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(self.patience),
                                                   restore_best_weights=True)]
        train = _batches(keras, arrays, users[~is_val], ts[~is_val], int(self.batch_size), int(self.seed))
        val = _batches(keras, arrays, users[is_val], ts[is_val], int(self.batch_size), int(self.seed))
        fitted = model.fit(train, validation_data=val, epochs=int(self.epochs), verbose=0, callbacks=callbacks)
        losses = fitted.history.get("val_loss", [])
        self.model_ = model
        (self.blend_weight_, self.popularity_weight_), recalls = self._learn_blend(arrays, users[is_val], ts[is_val])
        self.train_info_ = {"users_trained": len(trained), "users": len(history.users),
                            "examples_train": int((~is_val).sum()), "examples_val": int(is_val.sum()),
                            "epochs_run": len(losses), "best_val_loss": float(min(losses)) if losses else None,
                            "blend_weight": self.blend_weight_, "popularity_weight": self.popularity_weight_,
                            "val_recall_by_weight": recalls}
        log.info("next-interest LSTM on %s: %s", self.device_, self.train_info_)

    def _learn_blend(self, arrays: SequenceArrays, users: np.ndarray, ts: np.ndarray
                     ) -> tuple[tuple[float, float], dict[str, float]]:
        """The recency prior's weights with the best recall@blend_k on the held-out users (see blend)."""
        if int(self.blend_k) < 1 or not len(users):
            return (0.0, 0.0), {}
        if len(users) > BLEND_EXAMPLES:  # the grid holds a few (examples x categories) blocks: keep them bounded
            keep = np.sort(np.random.default_rng([int(self.seed), 2]).choice(len(users), BLEND_EXAMPLES, replace=False))
            users, ts = users[keep], ts[keep]
        logits = self._scores(arrays, users, ts, blended=False)
        known, new_pop = self._priors(arrays, users, ts)
        targets = arrays.targets[ts * arrays.n_users + users].toarray() > 0
        return choose_weights(logits, known, new_pop, targets, int(self.blend_k))

    @staticmethod
    def _priors(arrays: SequenceArrays, users: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = ts * arrays.n_users + users
        touched = arrays.touched[keys].toarray()
        return (known_prior(arrays.decayed[keys].toarray(), touched),
                new_popularity(arrays.popularity[ts], touched))

    def _scores(self, arrays: SequenceArrays, users: np.ndarray, ts: np.ndarray, blended: bool = True
                ) -> np.ndarray:
        """Logits (plus the learnt share of the recency prior) at positions (users, ts), in batches."""
        weight = float(getattr(self, "blend_weight_", 0.0)) if blended else 0.0
        pop_weight = float(getattr(self, "popularity_weight_", 0.0)) if blended else 0.0
        out = np.empty((len(users), arrays.n_cats), dtype=np.float32)
        for start in range(0, len(users), SCORE_BATCH):
            part = slice(start, start + SCORE_BATCH)
            inputs = arrays.inputs(users[part], ts[part])
            out[part] = np.asarray(self.model_.predict(inputs, batch_size=SCORE_BATCH, verbose=0))
            if weight or pop_weight:
                known, new_pop = self._priors(arrays, users[part], ts[part])
                out[part] += weight * known + pop_weight * new_pop
        return out

    def _score_in(self, history: InterestHistory, rows: np.ndarray) -> np.ndarray:
        """After the last period, SCORE_BATCH users at a time: each batch's arrays are built from its own rows
        (memory: one batch, however many users the history holds), with the popularity the model learnt on."""
        out = np.empty((len(rows), len(history.categories)), dtype=np.float32)
        for start in range(0, len(rows), SCORE_BATCH):
            part = rows[start:start + SCORE_BATCH]
            arrays = self._arrays(history.subset(part), int(self.horizon_), targets=False)
            out[start:start + len(part)] = self._scores(arrays, np.arange(len(part)),
                                                        np.full(len(part), arrays.n_periods))
        return out
