"""Synthetic behaviour logs with planted, known structure (the demo dataset and test fixtures).

What is planted, so that every analysis in the app has a ground truth to recover:

- segments: users belong to one of a few segments with distinct category preferences and
  behaviour profiles (activity level, views per session, cart and buy rates);
- seasonality (Swimwear/Cycling peak in summer, Ski gear/Outerwear in winter) and promotions
  (one category's interest multiplied for about two weeks, buys at a discount);
- migrations: a fraction of one segment's users move their interest from category A to B
  around a date, each user switching on their own day inside the migration window;
- churn: some users' activity fades over the weeks before their churn date, then stops;
- weekly rhythm (busier weekends), a daily rhythm, and a view > fav/cart > buy funnel.

Everything is vectorised numpy over user-days, sessions and events (no per-event Python), and
the output depends only on the spec: the same seed gives an identical events frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EVENT_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "category", "behavior", "ts", "value")

# department -> categories (human names, so charts read without a lookup table)
DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "Electronics": ("Phones", "Laptops", "Headphones", "Cameras"),
    "Home": ("Furniture", "Kitchen", "Bedding", "Garden"),
    "Fashion": ("Shoes", "Dresses", "Outerwear", "Swimwear"),
    "Sports": ("Running", "Cycling", "Ski gear", "Camping"),
    "Beauty": ("Skincare", "Makeup", "Fragrance", "Haircare"),
}
CATEGORIES: tuple[str, ...] = tuple(c for cats in DEPARTMENTS.values() for c in cats)
# Median item price per category (buys carry the price as value).
PRICES: dict[str, float] = {
    "Phones": 450, "Laptops": 900, "Headphones": 80, "Cameras": 600, "Furniture": 320, "Kitchen": 45,
    "Bedding": 60, "Garden": 55, "Shoes": 90, "Dresses": 70, "Outerwear": 160, "Swimwear": 40,
    "Running": 85, "Cycling": 420, "Ski gear": 260, "Camping": 120, "Skincare": 30, "Makeup": 25,
    "Fragrance": 75, "Haircare": 20,
}
# category -> (peak day of year, amplitude of log-interest); the multiplier is exp(amp * cos(...)).
SEASONS: dict[str, tuple[int, float]] = {
    "Swimwear": (196, 1.0), "Cycling": (175, 0.6), "Ski gear": (15, 1.0), "Outerwear": (350, 0.6),
}
WEEKDAY_FACTOR = np.array([0.88, 0.85, 0.88, 0.92, 1.0, 1.3, 1.25])  # Mon..Sun: busier weekends
HOUR_WEIGHT = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.8, 3.0,
                        3.6, 3.4, 3.0, 2.9, 3.0, 3.3, 3.9, 4.6, 5.0, 4.6, 3.4, 2.0])
BEHAVIOR_ORDER: tuple[str, ...] = ("view", "fav", "cart", "buy", "rate")  # codes 0-4 below


@dataclass(frozen=True)
class Segment:
    """A planted user segment: category preference and behaviour profile."""

    name: str
    weight: float  # share of users
    prefs: tuple[tuple[str, float], ...]  # category -> relative preference; unlisted get `floor`
    sessions_per_day: float
    views_per_session: float  # mean extra views beyond the first
    p_fav: float
    p_cart: float
    p_buy_given_cart: float
    churn_risk: float = 1.0  # relative churn probability
    floor: float = 0.12


@dataclass(frozen=True)
class Migration:
    """A fraction of a segment's users move interest from one category to another."""

    segment: str
    from_category: str
    to_category: str
    at: float  # start, as a fraction of the span (so small test specs still contain it)
    fraction: float = 0.5
    ramp_days: int = 14
    moved: float = 0.95  # share of the user's interest in from_category that moves


@dataclass(frozen=True)
class Promotion:
    category: str
    at: float  # start, as a fraction of the span
    days: int = 14
    uplift: float = 3.0  # multiplier on the category's interest weight
    discount: float = 0.2  # buys in the window are at this discount


DEFAULT_SEGMENTS: tuple[Segment, ...] = (
    Segment("tech enthusiasts", 0.22, (("Phones", 3.0), ("Laptops", 2.2), ("Headphones", 2.0), ("Cameras", 2.6)),
            0.36, 1.3, 0.10, 0.12, 0.45, churn_risk=0.8),
    Segment("home makers", 0.20, (("Furniture", 2.4), ("Kitchen", 3.0), ("Bedding", 2.0), ("Garden", 1.6)),
            0.26, 0.8, 0.12, 0.2, 0.65, churn_risk=0.7),
    Segment("fashion followers", 0.24, (("Shoes", 2.2), ("Dresses", 2.4), ("Outerwear", 1.2), ("Swimwear", 1.0),
                                        ("Skincare", 1.2), ("Makeup", 2.8), ("Fragrance", 0.8)),
            0.38, 1.6, 0.2, 0.14, 0.42, churn_risk=1.0),
    Segment("outdoor sports", 0.16, (("Running", 3.0), ("Cycling", 1.8), ("Ski gear", 1.5), ("Camping", 1.8),
                                     ("Outerwear", 0.6), ("Shoes", 0.5)),
            0.28, 1.1, 0.08, 0.13, 0.5, churn_risk=0.9),
    Segment("bargain browsers", 0.18, tuple((c, 0.55) for c in CATEGORIES), 0.3, 2.8, 0.05, 0.05, 0.2,
            churn_risk=1.8, floor=0.0),
)
# Pairs chosen away from seasonal categories, so a planted flow is not confused with a season's.
DEFAULT_MIGRATIONS: tuple[Migration, ...] = (
    Migration("tech enthusiasts", "Cameras", "Phones", at=0.22, fraction=0.6),
    Migration("home makers", "Kitchen", "Garden", at=0.42, fraction=0.6),
    Migration("fashion followers", "Makeup", "Skincare", at=0.62, fraction=0.6),
)
DEFAULT_PROMOTIONS: tuple[Promotion, ...] = (
    Promotion("Makeup", at=0.10, days=14, uplift=3.0),
    Promotion("Headphones", at=0.78, days=14, uplift=4.0),
)


@dataclass(frozen=True)
class SynthSpec:
    n_users: int = 1500
    start: str = "2024-01-01"
    days: int = 420
    seed: int = 7
    segments: tuple[Segment, ...] = DEFAULT_SEGMENTS
    migrations: tuple[Migration, ...] = DEFAULT_MIGRATIONS
    promotions: tuple[Promotion, ...] = DEFAULT_PROMOTIONS
    churn_rate: float = 0.15
    churn_fade_days: int = 42  # activity declines over this many days before churn
    late_joiners: float = 0.25  # share of users who join during the first half of the span
    pref_concentration: float = 30.0  # Dirichlet concentration of a user's preference around the segment's
    items_per_category: tuple[int, int] = (150, 400)
    rate_share: float = 0.25  # share of buys later rated (behaviour 'rate', value 1-5)
    wander: float = 0.5  # chance that a middle view of a session is of another category

    def __post_init__(self) -> None:
        if self.n_users < 10 or self.days < 56:
            raise ValueError("synthetic data needs n_users >= 10 and days >= 56 (8 weeks)")
        names = {s.name for s in self.segments}
        for m in self.migrations:
            if m.segment not in names or {m.from_category, m.to_category} - set(CATEGORIES):
                raise ValueError(f"migration {m} names an unknown segment or category")
        for p in self.promotions:
            if p.category not in CATEGORIES:
                raise ValueError(f"promotion {p} names an unknown category")


@dataclass(frozen=True)
class SynthResult:
    events: pd.DataFrame
    users: pd.DataFrame
    migrations: pd.DataFrame
    migrating_users: pd.DataFrame
    categories: pd.DataFrame
    promotions: pd.DataFrame


Planted = tuple[Migration, int, int, np.ndarray, np.ndarray]  # migration, start day, end day, movers, switch days


def _monday(start: pd.Timestamp, day: int) -> int:
    """Snap a day offset back to a Monday, so planted events align with weekly periods."""
    return max(0, day - (start + pd.Timedelta(days=day)).weekday())


def _catalog(rng: np.random.Generator, spec: SynthSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Items: (ids, category index, price, cumulative popularity keyed as category + cdf)."""
    lo, hi = spec.items_per_category
    n_items = rng.integers(lo, hi + 1, len(CATEGORIES))
    item_cat = np.repeat(np.arange(len(CATEGORIES)), n_items)
    # Increasing random gaps give unique, unordered-looking ids without a 10M permutation.
    numbers = 1_000_000 + np.cumsum(rng.integers(1, 300, item_cat.size))
    ids = np.array([f"i{n:07d}" for n in rng.permutation(numbers)])
    price_level = np.array([PRICES[c] for c in CATEGORIES])[item_cat]
    price = np.round(price_level * rng.lognormal(0.0, 0.35, item_cat.size)) - 0.01
    keys = np.empty(item_cat.size)
    offset = 0
    for c, n in enumerate(n_items):
        pop = 1.0 / (rng.permutation(n) + 3.0) ** 0.9  # Zipf-like popularity within a category
        cdf = np.cumsum(pop) / pop.sum()
        cdf[-1] = 1.0
        keys[offset:offset + n] = c + cdf
        offset += n
    return ids, item_cat, price, keys


def _calendar(spec: SynthSpec, start: pd.Timestamp) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple]]:
    """Per day: weekday factor, category multipliers (season x promotion), discount; promotion rows."""
    days = pd.date_range(start, periods=spec.days, freq="D")
    weekday = WEEKDAY_FACTOR[days.day_of_week] / WEEKDAY_FACTOR.mean()
    mult = np.ones((spec.days, len(CATEGORIES)))
    doy = days.day_of_year.to_numpy()
    for cat, (peak, amp) in SEASONS.items():
        mult[:, CATEGORIES.index(cat)] = np.exp(amp * np.cos(2 * np.pi * (doy - peak) / 365.25))
    discount = np.zeros((spec.days, len(CATEGORIES)))
    rows = []
    for p in spec.promotions:
        d0 = _monday(start, round(p.at * spec.days))
        d1 = min(spec.days, d0 + p.days)
        c = CATEGORIES.index(p.category)
        mult[d0:d1, c] *= p.uplift
        discount[d0:d1, c] = p.discount
        rows.append((p.category, start + pd.Timedelta(days=d0), start + pd.Timedelta(days=d1), p.uplift, p.discount))
    return weekday, mult, discount, rows


def _users(rng: np.random.Generator, spec: SynthSpec) -> dict[str, np.ndarray]:
    segs = spec.segments
    n, n_days = spec.n_users, spec.days
    weights = np.array([s.weight for s in segs])
    seg = rng.choice(len(segs), n, p=weights / weights.sum())
    pref_seg = np.array([[dict(s.prefs).get(c, s.floor) for c in CATEGORIES] for s in segs])
    pref_seg /= pref_seg.sum(1, keepdims=True)
    # Dirichlet per user via normalised gammas: individual tastes scattered around the segment's.
    shape = np.maximum(spec.pref_concentration * pref_seg[seg], 1e-3)
    pref = rng.gamma(shape)
    pref /= pref.sum(1, keepdims=True)
    activity = np.array([s.sessions_per_day for s in segs])[seg] * rng.lognormal(0.0, 0.45, n)
    cart_mult = rng.lognormal(0.0, 0.25, n)
    join = np.where(rng.random(n) < spec.late_joiners, rng.integers(1, n_days // 2, n), 0)
    risk = np.array([s.churn_risk for s in segs])[seg]
    churned = rng.random(n) < spec.churn_rate * risk / risk.mean()
    lo = np.maximum(join + 70, int(0.3 * n_days))
    hi = n_days - 21
    churn_day = lo + np.floor(rng.random(n) * np.maximum(hi - lo, 0)).astype(int)
    churned &= hi > lo
    churn_day = np.where(churned, churn_day, n_days + 10_000)
    return {"seg": seg, "pref": pref, "activity": activity, "cart_mult": cart_mult, "join": join,
            "churned": churned, "churn_day": churn_day}


def _plant_migrations(rng: np.random.Generator, spec: SynthSpec, start: pd.Timestamp,
                      users: dict[str, np.ndarray]) -> list[Planted]:
    """Pick each migration's movers among users active well before and after it, and their switch days."""
    names = [s.name for s in spec.segments]
    planted = []
    for m in spec.migrations:
        d0 = _monday(start, round(m.at * spec.days))
        d1 = d0 + m.ramp_days
        eligible = np.flatnonzero(
            (users["seg"] == names.index(m.segment)) & (users["join"] <= d0 - 28)
            & (users["churn_day"] - spec.churn_fade_days > d1 + 28)
        )
        # Users keen on from_category are likelier to move (and their move is what a flow chart shows).
        keen = users["pref"][eligible, CATEGORIES.index(m.from_category)]
        n_movers = round(m.fraction * eligible.size)
        movers = eligible[:0]
        if n_movers:
            movers = np.sort(rng.choice(eligible, n_movers, replace=False, p=keen / keen.sum()))
        switch = d0 + rng.integers(0, max(1, m.ramp_days - 3), movers.size)
        planted.append((m, d0, d1, movers, switch))
    return planted


def _session_counts(rng: np.random.Generator, spec: SynthSpec, users: dict[str, np.ndarray],
                    weekday: np.ndarray) -> np.ndarray:
    """Sessions per (user, day): Poisson of activity x weekday x weekly burstiness x churn fade."""
    day = np.arange(spec.days)
    active = day[None, :] >= users["join"][:, None]
    to_churn = users["churn_day"][:, None] - day[None, :]
    # Quadratic fade: a visible decline for weeks before the churn date, then nothing.
    fade = np.where(to_churn <= 0, 0.0, np.clip(to_churn / spec.churn_fade_days, 0.03, 1.0) ** 2)
    burst = rng.gamma(3.0, 1.0 / 3.0, (spec.n_users, spec.days // 7 + 1))[:, day // 7]
    rate = users["activity"][:, None] * weekday[None, :] * active * fade * burst
    return rng.poisson(rate)


# Behaviour codes of a session's follow-up events, by (fav + 2*cart + 4*buy) and position.
_EXTRAS = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [1, 2, 0],
                    [3, 0, 0], [1, 3, 0], [2, 3, 0], [1, 2, 3]])


def generate(spec: SynthSpec = SynthSpec()) -> SynthResult:
    """Generate events and ground truth; deterministic given ``spec`` (the seed included)."""
    rng = np.random.default_rng(spec.seed)
    start = pd.Timestamp(spec.start).normalize()
    item_ids, item_cat, price, item_keys = _catalog(rng, spec)
    weekday, cat_mult, discount, promo_rows = _calendar(spec, start)
    users = _users(rng, spec)
    planted = _plant_migrations(rng, spec, start, users)
    segs = spec.segments
    seg = users["seg"]

    # Sessions: one row per (user, day) session, user-major then day order.
    counts = _session_counts(rng, spec, users, weekday)
    flat = np.flatnonzero(counts)
    s_flat = np.repeat(flat, counts.ravel()[flat])
    s_user, s_day = np.divmod(s_flat, spec.days)
    n_sess = s_user.size

    # Each session is about one category, drawn from the user's preference on that day.
    weights = users["pref"][s_user]
    for m, _d0, _d1, movers, switch in planted:
        sw = np.full(spec.n_users, np.inf)
        sw[movers] = switch
        moved_frac = m.moved * np.clip((s_day - sw[s_user] + 1) / 4.0, 0.0, 1.0)  # a 4-day personal switch
        a, b = CATEGORIES.index(m.from_category), CATEGORIES.index(m.to_category)
        moved = weights[:, a] * moved_frac
        weights[:, a] -= moved
        weights[:, b] += moved
    weights *= cat_mult[s_day]
    cum = np.cumsum(weights, axis=1)
    s_cat = (cum < (rng.random(n_sess) * cum[:, -1])[:, None]).sum(1)
    s_cat = np.minimum(s_cat, len(CATEGORIES) - 1)

    # Funnel per session: views, then maybe fav, cart and (after a cart) buy of the last viewed item.
    s_seg = seg[s_user]
    n_views = 1 + rng.poisson(np.array([s.views_per_session for s in segs])[s_seg])
    on_promo = discount[s_day, s_cat] > 0
    fav = rng.random(n_sess) < np.array([s.p_fav for s in segs])[s_seg]
    p_cart = np.array([s.p_cart for s in segs])[s_seg] * users["cart_mult"][s_user] * np.where(on_promo, 1.5, 1.0)
    cart = rng.random(n_sess) < np.minimum(p_cart, 0.9)
    buy = cart & (rng.random(n_sess) < np.array([s.p_buy_given_cart for s in segs])[s_seg])
    n_ev = n_views + fav + cart + buy
    first = np.cumsum(n_ev) - n_ev

    e_sess = np.repeat(np.arange(n_sess), n_ev)
    pos = np.arange(e_sess.size) - first[e_sess]
    extra_pos = pos - n_views[e_sess]
    mask = (fav.astype(int) + 2 * cart + 4 * buy)[e_sess]
    behavior = np.where(extra_pos < 0, 0, _EXTRAS[mask, np.clip(extra_pos, 0, 2)])
    # Middle views may wander to another of the user's interests (more independent draws per period,
    # so shares are less lumpy); the first and last view (which fav/cart/buy refer to) stay put.
    e_cat = s_cat[e_sess]
    wander = np.flatnonzero((extra_pos < -1) & (pos > 0) & (rng.random(e_sess.size) < spec.wander))
    w_cum = cum[e_sess[wander]]
    e_cat[wander] = (w_cum < (rng.random(wander.size) * w_cum[:, -1])[:, None]).sum(1).clip(max=len(CATEGORIES) - 1)
    item = np.searchsorted(item_keys, e_cat + rng.random(e_sess.size), side="right")
    last_view = first + n_views - 1
    item = np.where(behavior > 0, item[last_view[e_sess]], item)

    # Times: session start by the daily rhythm, then gaps of about 40 s between events.
    hour = rng.choice(24, n_sess, p=HOUR_WEIGHT / HOUR_WEIGHT.sum())
    s_sec = s_day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n_sess)
    gaps = 1 + rng.exponential(40.0, e_sess.size).astype(np.int64)
    cs = np.cumsum(gaps)
    e_sec = s_sec[e_sess] + cs - cs[first[e_sess]]
    e_day = s_day[e_sess]
    value = np.where(behavior == 3, np.round(price[item] * (1 - discount[e_day, e_cat]), 2), np.nan)
    e_user = s_user[e_sess]

    # Ratings: some buys are rated 2-14 days later.
    rated = np.flatnonzero((behavior == 3) & (rng.random(e_sess.size) < spec.rate_share))
    r_sec = e_sec[rated] + rng.integers(2 * 86_400, 14 * 86_400, rated.size)
    r_val = rng.choice(np.arange(1.0, 6.0), rated.size, p=[0.04, 0.06, 0.15, 0.35, 0.40])
    user = np.concatenate([e_user, e_user[rated]])
    item = np.concatenate([item, item[rated]])
    cat = np.concatenate([e_cat, e_cat[rated]])
    behavior = np.concatenate([behavior, np.full(rated.size, 4)])
    sec = np.concatenate([e_sec, r_sec])
    value = np.concatenate([value, r_val])

    # Nothing after the span's end or a churned user's churn date (late-night sessions spill over).
    keep = (sec < spec.days * 86_400) & (sec < users["churn_day"][user] * 86_400)
    order = np.lexsort((behavior[keep], user[keep], sec[keep]))
    idx = np.flatnonzero(keep)[order]
    user_ids = np.array([f"u{k:06d}" for k in range(1, spec.n_users + 1)])
    ts = np.datetime64(start.to_pydatetime(), "us") + sec[idx].astype("timedelta64[s]")
    events = pd.DataFrame({
        "user_id": pd.Series(user_ids[user[idx]], dtype="str"),
        "item_id": pd.Series(item_ids[item[idx]], dtype="str"),
        "category": pd.Series(np.array(CATEGORIES)[cat[idx]], dtype="str"),
        "behavior": pd.Series(np.array(BEHAVIOR_ORDER)[behavior[idx]], dtype="str"),
        "ts": pd.Series(ts.astype("datetime64[us]")),
        "value": pd.Series(value[idx], dtype="float64"),
    })
    # The store drops exact duplicate rows by default: never emit any, so ingest keeps every row.
    events = events.drop_duplicates(ignore_index=True)
    return SynthResult(events=events, **_truth_frames(spec, start, users, user_ids, planted, promo_rows,
                                                       item_cat, price))


def _truth_frames(spec: SynthSpec, start: pd.Timestamp, users: dict[str, np.ndarray], user_ids: np.ndarray,
                  planted: list[Planted], promo_rows: list[tuple], item_cat: np.ndarray,
                  price: np.ndarray) -> dict[str, pd.DataFrame]:
    def date(day: np.ndarray | int) -> pd.Series | pd.Timestamp:
        return start + pd.to_timedelta(day, unit="D")

    names = np.array([s.name for s in spec.segments])
    churned = users["churned"]
    user_frame = pd.DataFrame({
        "user_id": pd.Series(user_ids, dtype="str"),
        "segment": pd.Series(names[users["seg"]], dtype="str"),
        "churned": churned,
        "churn_date": pd.Series(date(np.where(churned, users["churn_day"], 0))).where(churned).astype("datetime64[us]"),
        "join_date": pd.Series(date(users["join"])).astype("datetime64[us]"),
    })
    mig_rows, mover_rows = [], []
    for m, d0, d1, movers, switch in planted:
        mig_rows.append((m.segment, m.from_category, m.to_category, date(d0), date(d1), movers.size, m.fraction))
        mover_rows.append(pd.DataFrame({
            "user_id": user_ids[movers], "segment": m.segment, "from_category": m.from_category,
            "to_category": m.to_category, "switch_date": date(switch),
        }))
    migrations = pd.DataFrame(mig_rows, columns=["segment", "from_category", "to_category", "start_date", "end_date",
                                                 "users_moved", "fraction"])
    movers = pd.concat(mover_rows, ignore_index=True) if mover_rows else pd.DataFrame(
        columns=["user_id", "segment", "from_category", "to_category", "switch_date"])
    department = {c: d for d, cats in DEPARTMENTS.items() for c in cats}
    season = {c: ("summer" if 80 < peak < 265 else "winter") for c, (peak, _) in SEASONS.items()}
    categories = pd.DataFrame({
        "category": list(CATEGORIES),
        "department": [department[c] for c in CATEGORIES],
        "n_items": np.bincount(item_cat, minlength=len(CATEGORIES)),
        "median_price": [float(np.median(price[item_cat == i])) for i in range(len(CATEGORIES))],
        "season": [season.get(c, "") for c in CATEGORIES],
    })
    promotions = pd.DataFrame(promo_rows, columns=["category", "start", "end", "uplift", "discount"])
    return {"users": user_frame, "migrations": _dates(migrations, "start_date", "end_date"),
            "migrating_users": _dates(movers, "switch_date"), "categories": categories,
            "promotions": _dates(promotions, "start", "end")}


def _dates(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    return frame.astype({c: "datetime64[us]" for c in cols})
