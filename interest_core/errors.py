"""Named errors. Every message says what went wrong and what to do about it."""

from __future__ import annotations


class InterestCoreError(Exception):
    """Base of every error this library raises on purpose (never a bare traceback in the UI)."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}" if fix else problem)

    @property
    def kind(self) -> str:
        return type(self).__name__


class IngestError(InterestCoreError):
    """A file could not be turned into canonical events."""


class EmptyFileError(IngestError):
    pass


class UnreadableFileError(IngestError):
    pass


class FileEncodingError(IngestError):
    pass


class UnknownFormatError(IngestError):
    pass


class MissingColumnsError(IngestError):
    pass


class MappingError(IngestError):
    pass


class NoUsableRowsError(IngestError):
    pass


class DecompressedTooLargeError(IngestError):
    """A compressed file inflates past the configured cap (a zip bomb, or a file for the CLI)."""


class StoreError(InterestCoreError):
    """The embedded store refused an operation."""


class DatasetNotFoundError(StoreError):
    pass


class DatasetExistsError(StoreError):
    pass


class StoreBusyError(StoreError):
    """Another program holds the store's file; its message is safe to show in a browser."""


class ModelError(InterestCoreError):
    """A forecaster or saved model cannot be used as asked."""


class NotFittedError(ModelError):
    pass


class ArtifactError(ModelError):
    """A saved model is missing, tampered with, truncated or foreign."""


class SignatureError(ArtifactError):
    """A saved model's manifest is unsigned or its HMAC does not verify under INTEREST_MODEL_KEY."""


class ModelBusyError(ArtifactError):
    """Another process holds the lock of a model folder (a save is writing it)."""


class JobError(ModelError):
    """A training job cannot be started, or its folder is malformed."""


class JobLimitError(JobError):
    """As many training workers run as the cap allows."""


class FitFailedError(ModelError):
    """A model behind a page could not be fitted; remembered so that a rerun does not fit it again.

    ``cause`` names the error class the fit raised (e.g. InsufficientHistoryError); ``record`` is the file
    that remembers the failure (deleting it allows a retry)."""

    def __init__(self, problem: str, fix: str | None = None, cause: str | None = None,
                 record: str | None = None) -> None:
        super().__init__(problem, fix)
        self.cause = cause
        self.record = record


class MalformedFileError(ModelError):
    """A saved backtest, manifest, request or job file does not have the shape this code reads."""


class EngineError(InterestCoreError):
    """The chosen engine (Spark) cannot run: missing package or Java, or an unsupported option."""
