"""next_interest models saved and loaded through persist (versioned, hash-checked) and scored in batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interest_core.errors import ArtifactError, ModelError
from interest_core.forecasting import persist
from interest_core.forecasting.next_interest import make_next_interest
from interest_core.forecasting.next_interest.history import (
    InterestHistory,
    history_from_panel,
    read_history,
    write_history,
)
from tests.forecast_data import START, synthetic_panel

W = pd.DateOffset(weeks=1)
SPEC = {"freq": "W"}


@pytest.fixture
def history() -> InterestHistory:
    return history_from_panel(synthetic_panel(n_users=10, n_categories=5, n_periods=10), "W", START, START + W * 9)


def test_history_file_round_trips(history: InterestHistory, tmp_path: Path) -> None:
    write_history(history, tmp_path / "h.npz")
    back = read_history(tmp_path / "h.npz")
    assert back.users.tolist() == history.users.tolist() and back.categories.tolist() == history.categories.tolist()
    assert back.periods.as_unit("ns").tolist() == history.periods.as_unit("ns").tolist()
    for a, b in zip(back.interest, history.interest, strict=True):
        assert (a != b).nnz == 0


@pytest.mark.parametrize("name", ["popularity", "item_cf", "recency_decay"])
def test_baselines_save_load_and_score_the_same(history: InterestHistory, tmp_path: Path, name: str) -> None:
    model = make_next_interest(name).fit(history, 2)
    link = persist.save_model(model, tmp_path / "ni", dataset_sha256="abc", panel_spec=SPEC)
    saved = persist.load_next_interest(link)
    assert saved.manifest.model.name == f"next_interest:{name}" and saved.model.horizon_ == 2
    rows = np.arange(len(history.users))
    np.testing.assert_array_equal(saved.model.score(rows), model.score(rows))
    top = saved.model.top_categories(history.users[:3], k=2, batch_size=2)  # two batches
    assert top.columns.tolist() == ["user_id", "rank", "category", "score"] and len(top) == 6
    assert top.equals(model.top_categories(history.users[:3], k=2))
    with pytest.raises(ArtifactError, match="load_next_interest"):
        persist.load_model(link)  # not a forecaster: refused with the loader to use


def test_tampered_history_is_refused(history: InterestHistory, tmp_path: Path) -> None:
    link = persist.save_model(make_next_interest("recency_decay").fit(history, 2), tmp_path / "ni",
                              dataset_sha256="abc", panel_spec=SPEC)
    path = persist.model_dir(link) / "history.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        persist.load_next_interest(link)


def test_unknown_user_and_unknown_class_are_named(history: InterestHistory, tmp_path: Path) -> None:
    model = make_next_interest("popularity").fit(history, 2)
    with pytest.raises(ModelError, match="nobody"):
        model.top_categories(["nobody"])
    link = persist.save_model(model, tmp_path / "ni", dataset_sha256="abc", panel_spec=SPEC)
    manifest = persist.model_dir(link) / "manifest.json"
    data = json.loads(manifest.read_text())
    data["model"]["name"] = "next_interest:prophet"
    manifest.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="not a registered next_interest model"):
        persist.load_next_interest(link)


def test_sequence_lstm_saves_loads_and_scores_the_same(history: InterestHistory, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    model = make_next_interest("lstm", window=4, dim=4, units=4, epochs=2, batch_size=16).fit(history, 2)
    link = persist.save_model(model, tmp_path / "lstm", dataset_sha256="abc", panel_spec=SPEC)
    again = persist.save_model(model, tmp_path / "lstm", dataset_sha256="abc", panel_spec=SPEC)  # a new version
    assert link == again and sorted(p.name for p in persist.model_dir(link).iterdir()) == [
        "history.npz", "manifest.json", "model.keras", "state.json"]
    saved = persist.load_next_interest(link)
    assert saved.model.to_state() == model.to_state()  # blend weight, training record, device, horizon
    rows = np.arange(len(history.users))
    np.testing.assert_allclose(saved.model.score(rows), model.score(rows), rtol=1e-5, atol=1e-6)
