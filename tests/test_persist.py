"""Saved models: round trips, and every kind of damaged or foreign artefact refused by name."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from interest_core.config import PanelSpec
from interest_core.errors import ArtifactError, InterestCoreError
from interest_core.forecasting import persist
from interest_core.forecasting.forecasters import make_forecaster
from interest_core.forecasting.forecasters.base import Forecaster
from tests.forecast_data import engagement_frame

H = 3
LEVELS = [80, 95]
SPEC = PanelSpec(freq="W").to_dict()
SHA = "0" * 64


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return engagement_frame(n_users=6, n_categories=4, n_periods=14, seed=2)


@pytest.fixture(scope="module")
def lstm(frame: pd.DataFrame) -> Forecaster:
    return make_forecaster("lstm", window=4, units=4, epochs=2, batch_size=64, patience=1, horizon_train=H).fit(
        frame, "W")


@pytest.fixture(scope="module")
def baseline(frame: pd.DataFrame) -> Forecaster:
    return make_forecaster("recency_decay").fit(frame, "W")


def _save(model: Forecaster, folder: Path, metrics: dict[str, Any] | None = None) -> Path:
    return persist.save_model(model, folder, dataset_sha256=SHA, panel_spec=SPEC,
                              metrics={"auc": 0.78} if metrics is None else metrics, extra={"note": "x"})


@pytest.fixture
def saved_baseline(baseline: Forecaster, tmp_path: Path) -> Path:
    return _save(baseline, tmp_path / "models" / "rd")


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name]


def _rehash(folder: Path, fname: str) -> None:
    """Make the manifest agree with a replaced file (what a careful attacker would do)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    data = (folder / fname).read_bytes()
    manifest["files"][fname] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / "manifest.json").write_text(json.dumps(manifest))


# -- round trips -----------------------------------------------------------------------------------

def test_baseline_round_trip_and_manifest(baseline: Forecaster, saved_baseline: Path) -> None:
    loaded = persist.load_model(saved_baseline)
    pd.testing.assert_frame_equal(loaded.model.predict(H, level=LEVELS), baseline.predict(H, level=LEVELS))
    m = loaded.manifest
    raw = json.loads((saved_baseline / "manifest.json").read_text())
    assert raw["format"] == persist.FORMAT and m.format_version == raw["format_version"] == persist.FORMAT_VERSION
    assert raw["model"] == {"name": "recency_decay", "class": "RecencyDecay", "params": baseline.get_params()}
    assert (m.model.name, m.model.class_name, m.model.params) == ("recency_decay", "RecencyDecay",
                                                                  baseline.get_params())
    assert set(m.files) == {"state.json"} and m.dataset_sha256 == SHA
    assert PanelSpec.from_dict(m.panel_spec) == PanelSpec(freq="W")
    assert m.metrics == {"auc": 0.78} and {"python", "numpy", "pandas"} <= set(m.versions)
    assert loaded.extra == {"note": "x"} and loaded.panel_spec == m.panel_spec
    assert _visible(saved_baseline.parent) == ["rd"] and not _temps(saved_baseline.parent)  # no temp dirs left


@pytest.mark.slow
def test_lstm_round_trip_predicts_identically(lstm: Forecaster, tmp_path: Path) -> None:
    folder = _save(lstm, tmp_path / "lstm")
    assert {p.name for p in folder.iterdir()} == {"manifest.json", "state.json", "model.keras", "windows.npz"}
    loaded = persist.load_model(folder)
    pd.testing.assert_frame_equal(loaded.model.predict(H, level=LEVELS), lstm.predict(H, level=LEVELS))
    assert "keras" in loaded.manifest.versions and "tensorflow" in loaded.manifest.versions
    with zipfile.ZipFile(folder / "model.keras") as zf:
        assert "Lambda" not in zf.read("config.json").decode()  # safe_mode loading needs no Lambda layers


def test_replacing_a_saved_model_and_refusing_other_folders(baseline: Forecaster, saved_baseline: Path) -> None:
    before = (saved_baseline / "manifest.json").read_text()
    _save(baseline, saved_baseline, metrics={"auc": 0.5})
    assert persist.load_model(saved_baseline).manifest.metrics == {"auc": 0.5}
    assert before != (saved_baseline / "manifest.json").read_text()
    assert _visible(saved_baseline.parent) == ["rd"] and not _temps(saved_baseline.parent)
    home = saved_baseline.parent / "notes"
    home.mkdir()
    (home / "keep.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="not a saved model"):
        _save(baseline, home)
    assert (home / "keep.txt").read_text() == "mine"


def test_failed_save_leaves_nothing_and_keeps_the_old_model(baseline: Forecaster, saved_baseline: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_writer(self: Forecaster, folder: Path) -> None:
        (folder / "weights.bin").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(type(baseline), "_write_files", broken_writer)
    with pytest.raises(OSError, match="disk full"):
        _save(baseline, saved_baseline.parent / "fresh")
    with pytest.raises(OSError, match="disk full"):
        _save(baseline, saved_baseline, metrics={"auc": 0.1})
    assert _visible(saved_baseline.parent) == ["rd"] and not _temps(saved_baseline.parent)  # no fresh/, no temps
    monkeypatch.undo()
    assert persist.load_model(saved_baseline).manifest.metrics == {"auc": 0.78}


def test_unregistered_class_cannot_be_saved(frame: pd.DataFrame, tmp_path: Path) -> None:
    from interest_core.forecasting.forecasters.baselines import LastValue

    class Homemade(LastValue):
        name = "homemade"

    with pytest.raises(ArtifactError, match="not a registered forecaster"):
        _save(Homemade().fit(frame, "W"), tmp_path / "h")


# -- refusals ----------------------------------------------------------------------------------------

def _flip_byte(path: Path, offset: int = -10) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_tampered_state_refused(saved_baseline: Path) -> None:
    _flip_byte(saved_baseline / "state.json", 40)
    with pytest.raises(ArtifactError, match=r"state\.json: does not match its sha256") as err:
        persist.load_model(saved_baseline)
    assert "; " in str(err.value)  # the fix follows


def test_truncated_and_missing_files_refused(saved_baseline: Path) -> None:
    state = saved_baseline / "state.json"
    data = state.read_bytes()
    state.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match=r"state\.json: is truncated"):
        persist.load_model(saved_baseline)
    state.unlink()
    with pytest.raises(ArtifactError, match=r"state\.json: is missing"):
        persist.load_model(saved_baseline)
    with pytest.raises(ArtifactError, match="no saved model at"):
        persist.load_model(saved_baseline.parent / "nowhere")
    # A folder of the old layout moved aside by a save that was killed: its newest version loads.
    state.write_bytes(data)
    shutil.move(persist.model_dir(saved_baseline), saved_baseline.parent / ".rd.old-1-2")
    saved_baseline.unlink()
    assert persist.load_model(saved_baseline).manifest.metrics == {"auc": 0.78}


def test_foreign_manifest_and_unknown_class_refused(baseline: Forecaster, saved_baseline: Path) -> None:
    other = _save(make_forecaster("window_mean").fit(pd.DataFrame(
        {"unique_id": "s", "period": pd.date_range("2024-01-01", periods=8, freq="7D"), "y": 1.0}), "W"),
        saved_baseline.parent / "wm")
    shutil.copy(other / "manifest.json", saved_baseline / "manifest.json")
    with pytest.raises(ArtifactError, match=r"rd/state\.json: (is longer than saved|is truncated|does not match)"):
        persist.load_model(saved_baseline)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["model"]["class"] = "os.system"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="not a registered forecaster"):
        persist.load_model(other)
    manifest["model"] = {"name": "evil", "class": "Evil", "params": {}}
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="not a registered forecaster"):
        persist.load_model(other)
    (other / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"manifest\.json: is not valid JSON"):
        persist.load_model(other)


def test_schema_and_stray_files_refused(saved_baseline: Path) -> None:
    (saved_baseline / "extra.pkl").write_bytes(b"x")
    with pytest.raises(ArtifactError, match=r"extra\.pkl: is not listed in the manifest"):
        persist.load_model(saved_baseline)
    (saved_baseline / "extra.pkl").unlink()
    path = saved_baseline / "manifest.json"
    manifest = json.loads(path.read_text())
    for broken, pattern in [
        ({**manifest, "format_version": 99}, "format_version 99"),
        ({k: v for k, v in manifest.items() if k != "files"}, "'files' is missing"),
        ({**manifest, "files": {**manifest["files"], "../escape": {"sha256": "0", "bytes": 1}}}, "never has"),
        ({**manifest, "format": "something-else"}, "is not an interest-core-model manifest"),
    ]:
        path.write_text(json.dumps(broken))
        with pytest.raises(ArtifactError, match=pattern):
            persist.load_model(saved_baseline)


def test_state_of_another_model_refused_even_with_matching_hashes(saved_baseline: Path) -> None:
    state = json.loads((saved_baseline / "state.json").read_text())
    state["model"] = "window_mean"
    (saved_baseline / "state.json").write_text(json.dumps(state))
    _rehash(saved_baseline, "state.json")
    with pytest.raises(ArtifactError, match="does not hold the state of a 'recency_decay' model"):
        persist.load_model(saved_baseline)
    state["model"] = "recency_decay"
    del state["state"]["basis_"]
    (saved_baseline / "state.json").write_text(json.dumps(state))
    _rehash(saved_baseline, "state.json")
    with pytest.raises(ArtifactError, match="incomplete or invalid state"):
        persist.load_model(saved_baseline)


@pytest.mark.slow
def test_tampered_keras_and_disguised_pickle_refused(lstm: Forecaster, tmp_path: Path) -> None:
    folder = _save(lstm, tmp_path / "lstm")
    keras_file = folder / "model.keras"
    original = keras_file.read_bytes()
    _flip_byte(keras_file)
    with pytest.raises(ArtifactError, match=r"model\.keras: does not match its sha256"):
        persist.load_model(folder)
    # A pickle renamed to model.keras, with the manifest rewritten to match: still never unpickled.
    keras_file.write_bytes(pickle.dumps({"payload": "would run code"}))
    _rehash(folder, "model.keras")
    with pytest.raises(ArtifactError, match=r"model\.keras: is a Python pickle"):
        persist.load_model(folder)
    keras_file.write_bytes(b"PK-not-really-a-zip" * 10)
    _rehash(folder, "model.keras")
    with pytest.raises(ArtifactError, match=r"model\.keras: is not a \.keras archive"):
        persist.load_model(folder)
    keras_file.write_bytes(original)
    _rehash(folder, "model.keras")
    assert persist.load_model(folder).model.fitted_


def test_no_pickle_in_persistence_code() -> None:
    import interest_core.forecasting.forecasters.lstm as lstm_module
    import interest_core.forecasting.scoring as scoring_module

    for module in (persist, lstm_module, scoring_module):
        source = Path(str(module.__file__)).read_text()
        assert "import pickle" not in source and "allow_pickle=True" not in source
    assert issubclass(ArtifactError, InterestCoreError)
