"""Canonical event schema, behaviour codes and the known-format presets.

A preset is only a :class:`ColumnMapping` (source columns and codes -> canonical ones) plus
what identifies the format from a header. The generic format is a mapping the user builds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from interest_core.errors import MappingError, UnknownFormatError

CANONICAL_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "category", "behavior", "ts", "value")
REQUIRED_COLUMNS: tuple[str, ...] = ("user_id", "category", "ts")
BEHAVIORS: tuple[str, ...] = ("view", "fav", "cart", "buy", "rate")
IGNORE = "ignore"  # a code that maps here is dropped and counted as ignored_behavior

# Reasons a row is rejected, in the order they are tested (a row gets the first that applies).
REJECT_REASONS: dict[str, str] = {
    "malformed_row": "row has the wrong number of fields or broken quoting",
    "missing_user": "user id is empty",
    "missing_time": "time is empty",
    "unparseable_time": "time could not be parsed with the mapping's unit/format",
    "time_out_of_range": "time is before the plausible minimum year or in the future",
    "missing_behavior": "behaviour code is empty",
    "unknown_behavior": "behaviour code is not in the mapping",
    "ignored_behavior": "behaviour code is mapped to 'ignore' (e.g. remove_from_cart)",
    "missing_category": "category is empty and could not be filled from the item's other rows",
    "duplicate": "exact duplicate of another row (duplicates policy 'drop')",
}
REPAIR_REASONS: dict[str, str] = {
    "category_filled_from_item": "empty category filled from the same item's other rows",
    "value_unparseable_set_null": "value (amount/rating) not a number; stored as empty",
}

TsUnit = Literal["auto", "s", "ms", "text"]


@dataclass(frozen=True)
class ColumnMapping:
    """Where each canonical column comes from in a source file."""

    user_id: str
    category: str
    ts: str
    behavior: str | None = None
    item_id: str | None = None
    value: str | None = None
    # Source code -> canonical behaviour (or "ignore"). Empty: codes must already be canonical.
    behavior_codes: tuple[tuple[str, str], ...] = ()
    # Used when the file has no behaviour column: every row is this behaviour.
    constant_behavior: str | None = None
    ts_unit: TsUnit = "auto"
    ts_format: str | None = None  # strptime format for text times, e.g. %Y-%m-%d %H:%M:%S
    ts_prefix: str = ""  # prepended before parsing, e.g. "2013-" for month-day dates
    timezone: str = "UTC"  # zone of text times that carry none
    category_fallback: str | None = None  # column used when category is empty

    def __post_init__(self) -> None:
        if self.behavior is None and self.constant_behavior is None:
            raise MappingError(
                "no behaviour column and no constant behaviour",
                "map behavior=COLUMN, or give one behaviour for all rows (e.g. --behavior-all view)",
            )
        if self.constant_behavior is not None and self.constant_behavior not in BEHAVIORS:
            raise MappingError(
                f"constant behaviour {self.constant_behavior!r} is not one of {', '.join(BEHAVIORS)}",
                "pick one of those",
            )
        for code, target in self.behavior_codes:
            if target not in BEHAVIORS and target != IGNORE:
                raise MappingError(
                    f"behaviour code {code!r} maps to {target!r}, which is not a behaviour",
                    f"map it to one of {', '.join(BEHAVIORS)} or '{IGNORE}'",
                )
        if self.ts_unit not in ("auto", "s", "ms", "text"):
            raise MappingError(f"timestamp unit {self.ts_unit!r} is unknown", "use auto, s, ms or text")

    def source_columns(self) -> list[str]:
        cols = [self.user_id, self.category, self.ts, self.behavior, self.item_id, self.value, self.category_fallback]
        return [c for c in dict.fromkeys(cols) if c is not None]

    def codes(self) -> dict[str, str]:
        return dict(self.behavior_codes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnMapping:
        data = dict(data)
        data["behavior_codes"] = tuple(tuple(p) for p in data.get("behavior_codes", ()))
        return cls(**data)


@dataclass(frozen=True)
class Preset:
    """A known format: its mapping, its header names (in file order) and defaults."""

    name: str
    description: str
    header: tuple[str, ...]
    mapping: ColumnMapping
    default_duplicates: Literal["keep", "drop"] = "drop"
    # Columns that must be present to recognise the format from a header.
    signature: frozenset[str] = field(default_factory=frozenset)


def taobao() -> Preset:
    return Preset(
        name="taobao",
        description="Taobao UserBehavior (user_id,item_id,category_id,behavior_type,timestamp; "
        "pv/fav/cart/buy; epoch s)",
        header=("user_id", "item_id", "category_id", "behavior_type", "timestamp"),
        mapping=ColumnMapping(
            user_id="user_id", item_id="item_id", category="category_id", behavior="behavior_type",
            ts="timestamp", ts_unit="s",
            behavior_codes=(("pv", "view"), ("fav", "fav"), ("cart", "cart"), ("buy", "buy")),
        ),
        signature=frozenset({"user_id", "item_id", "category_id", "behavior_type", "timestamp"}),
    )


def tmall2014(year: int = 2013) -> Preset:
    return Preset(
        name="tmall2014",
        description=f"Tmall 2014 brand log (user_id,brand_id,type,visit_datetime M-D; year {year}; brand = category)",
        header=("user_id", "brand_id", "type", "visit_datetime"),
        mapping=ColumnMapping(
            user_id="user_id", category="brand_id", behavior="type", ts="visit_datetime",
            ts_unit="text", ts_format="%Y-%m-%d", ts_prefix=f"{year}-",
            behavior_codes=(("0", "view"), ("1", "buy"), ("2", "fav"), ("3", "cart")),
        ),
        # Day-granular: repeats on the same day are real events.
        default_duplicates="keep",
        signature=frozenset({"user_id", "brand_id", "type", "visit_datetime"}),
    )


def retailrocket() -> Preset:
    return Preset(
        name="retailrocket",
        description="RetailRocket events.csv (timestamp ms, visitorid, event, itemid, transactionid); "
        "category joined from item_properties",
        header=("timestamp", "visitorid", "event", "itemid", "transactionid"),
        mapping=ColumnMapping(
            user_id="visitorid", item_id="itemid", category="categoryid", behavior="event", ts="timestamp",
            ts_unit="ms", behavior_codes=(("view", "view"), ("addtocart", "cart"), ("transaction", "buy")),
        ),
        signature=frozenset({"timestamp", "visitorid", "event", "itemid"}),
    )


def rees46() -> Preset:
    return Preset(
        name="rees46",
        description="REES46 e-commerce events (event_time, event_type, product_id, category_id, category_code, "
        "brand, price, user_id, user_session)",
        header=("event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price",
                "user_id", "user_session"),
        mapping=ColumnMapping(
            user_id="user_id", item_id="product_id", category="category_code", category_fallback="category_id",
            behavior="event_type", ts="event_time", ts_unit="text", value="price",
            behavior_codes=(("view", "view"), ("cart", "cart"), ("purchase", "buy"),
                            ("remove_from_cart", IGNORE)),
        ),
        signature=frozenset({"event_time", "event_type", "product_id", "category_id", "user_id"}),
    )


def canonical(columns: list[str]) -> Preset:
    """A file already in canonical columns (e.g. this app's own exports or the demo Parquet)."""
    lowered = {c.strip().lower() for c in columns}
    return Preset(
        name="canonical",
        description="canonical columns user_id, item_id, category, behavior, ts, value",
        header=("user_id", "item_id", "category", "behavior", "ts", "value"),
        mapping=ColumnMapping(
            user_id="user_id", category="category", behavior="behavior", ts="ts",
            item_id="item_id" if "item_id" in lowered else None, value="value" if "value" in lowered else None,
        ),
        signature=frozenset({"user_id", "category", "behavior", "ts"}),
    )


PRESET_NAMES: tuple[str, ...] = ("taobao", "tmall2014", "retailrocket", "rees46")


def get_preset(name: str, *, year: int = 2013) -> Preset:
    if name == "taobao":
        return taobao()
    if name == "tmall2014":
        return tmall2014(year)
    if name == "retailrocket":
        return retailrocket()
    if name == "rees46":
        return rees46()
    raise UnknownFormatError(
        f"unknown format {name!r}",
        f"use one of auto, {', '.join(PRESET_NAMES)}, generic",
    )


def detect_preset(columns: list[str], first_row: list[str] | None, *, year: int = 2013) -> Preset:
    """Recognise a preset from the header names, or from a header-less first row's shape."""
    lowered = {c.strip().lower() for c in columns}
    # Most specific signature first, so a superset header picks the richer preset.
    for name in sorted(PRESET_NAMES, key=lambda n: -len(get_preset(n).signature)):
        preset = get_preset(name, year=year)
        if preset.signature <= lowered:
            return preset
    if {"user_id", "category", "behavior", "ts"} <= lowered:
        return canonical(columns)
    if first_row is not None:
        row = [v.strip() for v in first_row]
        if len(row) == 5 and row[3] in {"pv", "fav", "cart", "buy"} and row[4].isdigit():
            return taobao()
        if len(row) == 4 and row[2] in {"0", "1", "2", "3"} and _is_month_day(row[3]):
            return tmall2014(year)
    raise UnknownFormatError(
        f"could not recognise the format from columns {columns[:12]}",
        "pick --format generic and map the columns (--map user_id=COL --map category=COL --map ts=COL "
        "--map behavior=COL), or choose the columns in the upload page's mapping form",
    )


def _is_month_day(text: str) -> bool:
    parts = text.split("-")
    return len(parts) == 2 and all(p.isdigit() for p in parts) and 1 <= int(parts[0]) <= 12


def with_header_names(preset: Preset, names: list[str]) -> Preset:
    """Header names in a file may differ in case/space from the preset's: remap to the file's spelling."""
    by_lower = {n.strip().lower(): n for n in names}
    m = preset.mapping
    changes: dict[str, Any] = {}
    for attr in ("user_id", "category", "ts", "behavior", "item_id", "value", "category_fallback"):
        col = getattr(m, attr)
        if col is not None and col.lower() in by_lower:
            changes[attr] = by_lower[col.lower()]
    return replace(preset, mapping=replace(m, **changes))
