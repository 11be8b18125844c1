"""Cached category groupings of one dataset: the (category, group) map of a GroupingSpec, its quality,
group totals and colours. Learned groups are computed once per dataset and spec (a few seconds on the
Tmall log), then every page and period reuses them. The widget that picks a grouping is
``ui.widgets.category_grouping``; ``ui.queries.analytics_panel`` builds its panel from ``panel_map``.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from interest_core import panel
from interest_core.charts import category_colors
from interest_core.config import GroupingSpec
from interest_core.derived_results import category_noun, result_key
from interest_core.grouping import OTHER, CategoryChoice, GroupQuality, UserPairs, learn_from, user_pairs
from ui.store import DatasetKey, describe, over_model_cap, stored


def noun(ds: DatasetKey) -> str:
    """What a category of this dataset is ('brand' on the Tmall log, else 'category')."""
    return category_noun(describe(ds).format) or "category"


@st.cache_data(show_spinner=False, max_entries=16)
def category_totals(ds: DatasetKey) -> pd.DataFrame:
    """category, interest, events, users of every category, most engaged first."""
    found = stored(ds, "category_totals")
    return found.frame if found is not None else panel.category_totals(ds.source())


@st.cache_data(show_spinner=False, max_entries=8)
def user_category(ds: DatasetKey) -> pd.DataFrame:
    """user_id, category, interest over the key's events (panel.user_category_totals): summed from the smallest
    stored panel when the key reads the whole dataset (a quarter of the rows of the events; equal up to float
    order), else from the events."""
    from interest_core.derived_panel import stored_source, user_category_totals
    from ui.queries import whole_dataset

    if whole_dataset(ds):
        for freq in ("M", "W", "D"):
            source = stored_source(ds.store(), ds.name, freq)
            if source is not None:
                return user_category_totals(source)
    return panel.user_category_totals(ds.source())


def base_map(ds: DatasetKey, spec: GroupingSpec) -> pd.DataFrame | None:
    """(category, group) of ``spec``; None for raw categories. Learned groups and name maps are learned over
    the whole dataset whatever the date range (``ds.whole()``), so a group keeps its members and its name
    when the range changes; top-K ranks the categories inside the range."""
    return _base_map(ds if spec.method == "topk" else ds.whole(), spec)


@st.cache_data(show_spinner="Learning which categories go together (once per dataset)...", max_entries=16)
def _base_map(ds: DatasetKey, spec: GroupingSpec) -> pd.DataFrame | None:
    from interest_core.grouping import name_map, topk_map

    if spec.method == "none":
        return None
    if spec.method == "topk":
        return topk_map(category_totals(ds), spec.k)
    if spec.method == "map":
        return name_map(category_totals(ds)["category"], dict(spec.names), spec.unmapped)
    named = category_noun(describe(ds).format)
    found = stored(ds, result_key("learned_map", spec.n_groups, spec.seed, named))  # what prepare learned
    if found is not None:
        return found.frame
    return learn_from(_pairs(ds), spec.n_groups, spec.seed, noun=named).category_map


# A resource, not data: shared as it is (up to the page models' cap of rows), where cache_data would copy it on
# every read; its readers (learned_map, group_quality) do not change it.
@st.cache_resource(show_spinner="Reading which categories each user engages with...", max_entries=4)
def _pairs(ds: DatasetKey) -> UserPairs:
    """The (user, category) interest groups are learned and measured from: every user's (``user_category``), or on
    a log of more pairs than the page models' cap those of their seeded user sample (``grouping.user_pairs``: the
    100 M-event log holds 10.2 M pairs)."""
    from interest_core.forecasting.page_frames import max_model_rows

    if not over_model_cap(ds):  # under the cap without counting the pairs
        return UserPairs(user_category(ds))
    return user_pairs(ds.source(), max_pairs=max_model_rows())


def panel_map(ds: DatasetKey, choice: CategoryChoice) -> pd.DataFrame | None:
    """The map a panel is built with: the spec's groups, those outside the picked ones folded into 'other'."""
    categories = category_totals(ds)["category"].astype(str).tolist() if choice.picked else []
    return choice.apply(base_map(ds, choice.spec), categories)


@st.cache_data(show_spinner=False, max_entries=16)
def group_totals(ds: DatasetKey, spec: GroupingSpec) -> pd.DataFrame:
    """group, interest, members: each group's interest and number of categories, most engaged first ('other' last)."""
    totals = category_totals(ds)[["category", "interest"]].astype({"category": "string"})
    mapping = base_map(ds, spec)
    group = totals["category"] if mapping is None else totals["category"].map(
        mapping.set_index("category")["group"]).fillna(totals["category"])
    out = totals.assign(group=group.astype(str)).groupby("group", as_index=False).agg(
        interest=("interest", "sum"), members=("category", "size"))
    out = out.assign(is_other=out["group"] == OTHER).sort_values(["is_other", "interest"], ascending=[True, False],
                                                             kind="stable")
    return out.drop(columns="is_other").reset_index(drop=True)


@st.cache_data(show_spinner="Measuring how well the groups hold together...", max_entries=16)
def quality(ds: DatasetKey, spec: GroupingSpec) -> GroupQuality | None:
    """Co-occurrence inside the groups against random pairs (grouping.group_quality); None for raw categories."""
    from interest_core.grouping import group_quality

    mapping = base_map(ds, spec)
    if mapping is None:
        return None
    if spec.method == "learned":  # prepare measured its default grouping over the whole dataset
        named = category_noun(describe(ds).format)
        found = stored(ds, result_key("group_quality", spec.n_groups, spec.seed, named))
        if found is not None:
            return GroupQuality(**found.facts)
    read = _pairs(ds)
    measured = group_quality(read.user_category, mapping)  # a statistic: a sample's pairs will do
    return replace(measured, sampled_users=read.sampled_users) if read.sampled_users else measured


@st.cache_data(show_spinner=False, max_entries=32)
def colors(ds: DatasetKey, spec: GroupingSpec) -> dict[str, str]:
    """One colour per group (or category) of this grouping, the most engaged first, 'other' grey."""
    return category_colors(group_totals(ds, spec)["group"].head(64).tolist())


def choice_of(grouping: CategoryChoice | int | None) -> CategoryChoice:
    """A CategoryChoice from what callers pass: the choice itself, a top-k count, or None (raw categories)."""
    if isinstance(grouping, CategoryChoice):
        return grouping
    return CategoryChoice(GroupingSpec(method="topk", k=grouping) if grouping else GroupingSpec())


@st.cache_data(show_spinner=False, max_entries=64)
def interest_over_time(ds: DatasetKey, freq: str, choice: CategoryChoice) -> pd.DataFrame:
    """period, category, interest per group of ``choice`` (grouping.interest_over_time, summed in the database)."""
    from interest_core.grouping import interest_over_time as over_time

    return over_time(ds.source(), freq, panel_map(ds, choice), drop_other=choice.drop_other)


def suggested_choice(ds: DatasetKey) -> CategoryChoice:
    """The grouping pages start with: learned groups above ``grouping.LEARNED_ABOVE`` categories, else raw ones
    (the same choice ``widgets.category_grouping(..., few='none')`` makes by default)."""
    from interest_core.grouping import suggested_grouping
    from ui.store import kpis

    return CategoryChoice(suggested_grouping(int(kpis(ds.whole())["categories"])))
