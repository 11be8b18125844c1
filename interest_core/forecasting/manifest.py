"""The manifest of a saved model as a typed object, validated when read, optionally HMAC-signed.

Hashes (sha256 of every file, listed in the manifest) detect corruption: a truncated, flipped
or swapped file. They do not stop forgery: whoever can write the folder can recompute them.
A signature does: with ``INTEREST_MODEL_KEY`` set, ``save_model`` signs the manifest with
HMAC-SHA256 under that key, and loading refuses a manifest that is unsigned or whose
signature does not verify, so an edited ``state.json`` with its hash recomputed is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from interest_core.errors import ArtifactError, SignatureError

FORMAT = "interest-core-model"
FORMAT_VERSION = 2  # 2: state written by Forecaster.to_state (typed JSON), folder a pointer to a version
MANIFEST = "manifest.json"
STATE = "state.json"
KEY_ENV = "INTEREST_MODEL_KEY"
SIGNATURE_ALG = "hmac-sha256"
FILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
RESAVE = "save the model again (python -m interest_core fit ...) or restore the folder from a backup"


def fail(where: str, problem: str, fix: str = RESAVE) -> ArtifactError:
    return ArtifactError(f"{where}: {problem}", fix)


@dataclass(frozen=True)
class ModelRef:
    name: str
    class_name: str
    params: dict[str, Any]


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    model: ModelRef
    files: dict[str, FileEntry]
    dataset_sha256: str
    panel_spec: dict[str, Any]
    metrics: dict[str, Any]
    created: str
    versions: dict[str, str]
    format_version: int = FORMAT_VERSION
    signature: str | None = field(default=None, compare=False)

    def payload(self) -> dict[str, Any]:
        """The JSON form without the signature (what is signed)."""
        return {
            "format": FORMAT, "format_version": self.format_version,
            "model": {"name": self.model.name, "class": self.model.class_name, "params": self.model.params},
            "files": {name: asdict(entry) for name, entry in self.files.items()},
            "dataset_sha256": self.dataset_sha256, "panel_spec": self.panel_spec, "metrics": self.metrics,
            "created": self.created, "versions": self.versions,
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.payload()
        if self.signature is not None:
            out["signature"] = {"alg": SIGNATURE_ALG, "value": self.signature}
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Manifest:
        """Schema-checked manifest; any problem raises ArtifactError naming ``where``."""
        from interest_core.forecasting.forecasters.registry import REGISTRY
        from interest_core.forecasting.next_interest import NEXT_INTEREST_REGISTRY, SAVED_PREFIX

        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise fail(where, f"is not an {FORMAT} manifest")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < FORMAT_VERSION:
            raise fail(where, f"has format_version {version!r}; this code reads {FORMAT_VERSION}",
                       "save the model again with this version of interest_core (or upgrade it to read newer ones)")
        required = {"model": dict, "files": dict, "dataset_sha256": str, "panel_spec": dict, "metrics": dict,
                    "created": str, "versions": dict}
        for key, kind in required.items():
            if not isinstance(data.get(key), kind):
                raise fail(where, f"field {key!r} is missing or not a {kind.__name__}")
        model = data["model"]
        name, class_name = model.get("name"), model.get("class")
        if isinstance(name, str) and name.startswith(SAVED_PREFIX):  # a next_interest model
            entry = NEXT_INTEREST_REGISTRY.get(name.removeprefix(SAVED_PREFIX))
            if entry is None or entry[1] != class_name:
                raise fail(where, f"names model {name!r} / class {class_name!r}, which is not a registered "
                           "next_interest model", f"only {', '.join(NEXT_INTEREST_REGISTRY)} can be loaded")
        elif name not in REGISTRY or REGISTRY[name].class_name != class_name:
            raise fail(where, f"names model {name!r} / class {class_name!r}, which is not a registered forecaster",
                       f"only {', '.join(REGISTRY)} can be loaded; save the model with this version of interest_core")
        if not isinstance(model.get("params"), dict):
            raise fail(where, "field 'model.params' is missing or not an object")
        files: dict[str, FileEntry] = {}
        for fname, entry in data["files"].items():
            if not FILE_NAME_RE.fullmatch(fname) or fname == MANIFEST:
                raise fail(where, f"lists a file named {fname!r}, which a saved model never has")
            if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                    or not isinstance(entry.get("bytes"), int):
                raise fail(where, f"entry for {fname!r} lacks sha256/bytes")
            files[fname] = FileEntry(entry["sha256"], entry["bytes"])
        if STATE not in files:
            raise fail(where, f"does not list {STATE}")
        signature = data.get("signature")
        value = signature.get("value") if isinstance(signature, dict) else None
        if signature is not None and (not isinstance(value, str) or signature.get("alg") != SIGNATURE_ALG):
            raise fail(where, f"has a signature that is not {SIGNATURE_ALG}")
        return cls(ModelRef(str(name), str(class_name), dict(model["params"])), files, data["dataset_sha256"],
                   dict(data["panel_spec"]), dict(data["metrics"]), data["created"],
                   {str(k): str(v) for k, v in data["versions"].items()}, version, value)


def signing_key() -> bytes | None:
    """The HMAC key from ``INTEREST_MODEL_KEY`` (None when unset or empty)."""
    value = os.environ.get(KEY_ENV, "")
    return value.encode("utf-8") if value else None


def _digest(payload: dict[str, Any], key: bytes) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)
    return hmac.new(key, canonical.encode("ascii"), hashlib.sha256).hexdigest()


def signed(manifest: Manifest, key: bytes | None) -> Manifest:
    """The manifest with its signature set (unchanged when there is no key)."""
    if key is None:
        return manifest
    # Sign the JSON form exactly as a reader will parse it back (str() of odd types, floats by repr).
    payload = json.loads(json.dumps(manifest.payload(), default=str, allow_nan=True))
    return Manifest.from_dict({**payload, "signature": {"alg": SIGNATURE_ALG, "value": _digest(payload, key)}},
                              "manifest")


def check_signature(manifest: Manifest, where: str, key: bytes | None) -> None:
    """With a key: refuse an unsigned manifest or one whose HMAC does not verify. Without: accept."""
    if key is None:
        return
    if manifest.signature is None:
        raise SignatureError(f"{where}: is not signed, and {KEY_ENV} is set",
                             "save the model again with the key set, or unset the key to load unsigned models")
    if not hmac.compare_digest(manifest.signature, _digest(manifest.payload(), key)):
        raise SignatureError(f"{where}: its signature does not verify under {KEY_ENV} (edited, or signed with "
                             "another key)", "save the model again with this key; never load a model you did not sign")
