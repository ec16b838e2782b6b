"""Customer lifetime value: BG/NBD (who buys again, how often) and Gamma-Gamma (how much), fitted on a
``customer_rfm`` table with pymc-marketing's CLV module.

Fits are maximum likelihood: pymc-marketing's MAP fit with flat (``HalfFlat``) priors on every parameter,
which is the likelihood's maximum; on the CDNOW sample this reproduces Fader, Hardie & Lee (2005). Time is
in the units of the RFM table (days for ``customer_rfm``).

    rfm = lake.load("cdnow/customer_rfm", partition="1997-09-30")
    fit = fit_clv(rfm)
    predictions = predict_clv(fit, rfm, horizon_days=90)
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

BGNBD_PARAMETERS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMETERS = ("p", "q", "v")
# Gamma-Gamma needs repeat buyers with a positive mean value; below this many its fit is not meaningful
MIN_REPEAT_CUSTOMERS = 10
RFM_COLUMNS = ("customer_id", "frequency", "recency", "T")

PREDICTION_COLUMNS = (
    "customer_id", "expected_purchases", "probability_alive", "expected_spend", "expected_clv",
)  # fmt: skip


class ClvDataError(ValueError):
    """An RFM table a model cannot be fitted on; the message says which column or rows."""


@dataclass
class ClvFit:
    """The fitted models and what to report about them (JSON-able ``parameters`` and ``diagnostics``)."""

    bgnbd: Any
    gamma_gamma: Any | None
    parameters: dict[str, float]
    diagnostics: dict[str, Any] = field(default_factory=dict)


def _quiet() -> None:
    # pymc/pytensor log compile and optimizer progress at INFO; a notebook or a run log wants the results
    for name in ("pymc", "pytensor", "pymc_marketing"):
        logging.getLogger(name).setLevel(logging.WARNING)


def check_rfm(rfm: pd.DataFrame, monetary: bool = False) -> pd.DataFrame:
    """The RFM columns of ``rfm`` as the models need them, or :class:`ClvDataError` naming the problem."""
    needed = [*RFM_COLUMNS, *(["monetary_value"] if monetary else [])]
    missing = [c for c in needed if c not in rfm.columns]
    if missing:
        raise ClvDataError(f"RFM table lacks column(s) {missing}; it has {list(rfm.columns)}")
    data = rfm[needed].copy()
    data["customer_id"] = data["customer_id"].astype(str)
    if data["customer_id"].duplicated().any():
        raise ClvDataError("RFM table has duplicate customer_id values: one row per customer is required")
    for column in needed[1:]:
        data[column] = pd.to_numeric(data[column], errors="raise").astype("float64")
    bad = data[(data["frequency"] < 0) | (data["recency"] < 0) | (data["recency"] > data["T"])]
    if len(bad):
        raise ClvDataError(
            f"{len(bad)} RFM row(s) break 0 <= recency <= T or frequency >= 0, e.g. customer "
            f"{bad['customer_id'].iloc[0]!r}"
        )
    if data.empty:
        raise ClvDataError("RFM table has no customers")
    return data.reset_index(drop=True)


def fit_bgnbd(rfm: pd.DataFrame) -> Any:
    """Maximum-likelihood BG/NBD fit (pymc-marketing ``BetaGeoModel``) on ``customer_id``, ``frequency``,
    ``recency``, ``T``."""
    _quiet()
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel

    data = check_rfm(rfm)
    model = BetaGeoModel(data=data, model_config={name: Prior("HalfFlat") for name in BGNBD_PARAMETERS})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(method="map", progressbar=False)
    return model


def fit_gamma_gamma(rfm: pd.DataFrame) -> Any:
    """Maximum-likelihood Gamma-Gamma fit (pymc-marketing ``GammaGammaModel``) on the repeat buyers
    (``frequency`` > 0) with a positive ``monetary_value``."""
    _quiet()
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import GammaGammaModel

    data = repeat_buyers(check_rfm(rfm, monetary=True))
    if len(data) < MIN_REPEAT_CUSTOMERS:
        raise ClvDataError(
            f"Gamma-Gamma needs at least {MIN_REPEAT_CUSTOMERS} repeat buyers with a positive monetary_value; "
            f"the RFM table has {len(data)}"
        )
    model = GammaGammaModel(
        data=data, model_config={name: Prior("HalfFlat") for name in GAMMA_GAMMA_PARAMETERS}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(method="map", progressbar=False)
    return model


def repeat_buyers(data: pd.DataFrame) -> pd.DataFrame:
    """The rows Gamma-Gamma is fitted on: ``frequency`` > 0 and ``monetary_value`` > 0."""
    return data[(data["frequency"] > 0) & (data["monetary_value"] > 0)].reset_index(drop=True)


def fitted_parameters(model: Any, names: tuple[str, ...]) -> dict[str, float]:
    """The point estimates of a fitted model's parameters."""
    posterior = model.idata.posterior
    return {name: float(posterior[name].mean()) for name in names}


def fit_clv(rfm: pd.DataFrame) -> ClvFit:
    """Fit BG/NBD on every customer and, when there are enough repeat buyers, Gamma-Gamma on them.

    ``diagnostics`` says what was fitted on how many customers, how long it took, and why Gamma-Gamma was
    left out if it was.
    """
    started = time.perf_counter()
    bgnbd = fit_bgnbd(rfm)
    parameters = fitted_parameters(bgnbd, BGNBD_PARAMETERS)
    diagnostics: dict[str, Any] = {
        "customers": len(rfm),
        "repeat_customers": int((rfm["frequency"] > 0).sum()),
        "bgnbd_fit_seconds": round(time.perf_counter() - started, 2),
        "fit_method": "maximum likelihood (pymc-marketing MAP, flat priors)",
    }
    gamma_gamma = None
    started = time.perf_counter()
    try:
        gamma_gamma = fit_gamma_gamma(rfm)
    except ClvDataError as exc:
        diagnostics["gamma_gamma_skipped"] = str(exc)
    else:
        parameters.update(fitted_parameters(gamma_gamma, GAMMA_GAMMA_PARAMETERS))
        diagnostics["gamma_gamma_customers"] = len(repeat_buyers(check_rfm(rfm, monetary=True)))
        diagnostics["gamma_gamma_fit_seconds"] = round(time.perf_counter() - started, 2)
    return ClvFit(bgnbd, gamma_gamma, parameters, diagnostics)


def _point(values: Any) -> np.ndarray:
    """A per-customer array from a pymc-marketing result (mean over chain/draw of a MAP fit's one draw)."""
    dims = [d for d in ("chain", "draw") if d in values.dims]
    return np.asarray(values.mean(dims).values, dtype="float64")


def predict_clv(
    fit: ClvFit, rfm: pd.DataFrame, horizon_days: int = 90, clv_months: int = 12, discount_rate: float = 0.0
) -> pd.DataFrame:
    """Per customer of ``rfm``: expected purchases in the next ``horizon_days``, probability alive, expected
    mean spend per purchase and expected CLV over ``clv_months`` months (monthly ``discount_rate``); spend
    and CLV are NaN when Gamma-Gamma was not fitted. Sorted by ``customer_id``."""
    data = check_rfm(rfm, monetary=fit.gamma_gamma is not None)
    out = pd.DataFrame({"customer_id": data["customer_id"]})
    out["expected_purchases"] = _point(fit.bgnbd.expected_purchases(data, future_t=horizon_days))
    out["probability_alive"] = _point(fit.bgnbd.expected_probability_alive(data))
    if fit.gamma_gamma is None:
        out["expected_spend"] = np.nan
        out["expected_clv"] = np.nan
    else:
        out["expected_spend"] = _point(fit.gamma_gamma.expected_customer_spend(data))
        clv = fit.gamma_gamma.expected_customer_lifetime_value(
            transaction_model=fit.bgnbd,
            data=data,
            future_t=clv_months,
            discount_rate=discount_rate,
            time_unit="D",
        )
        out["expected_clv"] = _point(clv)
    return out.sort_values("customer_id").reset_index(drop=True)[list(PREDICTION_COLUMNS)]


def holdout_comparison(
    bgnbd: Any, calibration: pd.DataFrame, observed: pd.DataFrame, max_frequency: int = 7
) -> pd.DataFrame:
    """Calibration vs holdout: for customers of the ``calibration`` RFM table (an earlier as_of_date),
    actual repeat purchases since then (``frequency`` in ``observed`` minus ``frequency`` in
    ``calibration``) against the purchases the BG/NBD model ``bgnbd`` (fitted on ``calibration``) expects
    over the same span, averaged by calibration frequency (``max_frequency`` and above grouped)."""
    calib = check_rfm(calibration)
    later = observed.set_index(observed["customer_id"].astype(str))["frequency"]
    span_days = float(observed["T"].max() - calibration["T"].max())
    actual = later.reindex(calib["customer_id"]).to_numpy() - calib["frequency"].to_numpy()
    expected = _point(bgnbd.expected_purchases(calib, future_t=span_days))
    table = pd.DataFrame(
        {
            "calibration_frequency": calib["frequency"].clip(upper=max_frequency).astype(int),
            "actual": actual,
            "expected": expected,
        }
    )
    return (
        table.groupby("calibration_frequency")
        .agg(customers=("actual", "size"), actual=("actual", "mean"), expected=("expected", "mean"))
        .reset_index()
    )


def frequency_recency_matrix(
    bgnbd: Any, T: float, horizon_days: int, max_frequency: int, max_recency: float
) -> pd.DataFrame:  # noqa: N803 - T is the BTYD name
    """Expected purchases in the next ``horizon_days`` of a customer of age ``T`` by frequency (rows,
    0..``max_frequency``) and recency (columns, 0..``max_recency`` in 20 steps): the heat map of BG/NBD."""
    frequencies = np.arange(0, max_frequency + 1)
    recencies = np.linspace(0, max_recency, 20)
    grid = pd.DataFrame(
        [(f"{f}_{r}", float(f), float(r), float(T)) for f in frequencies for r in recencies],
        columns=list(RFM_COLUMNS),
    )
    grid = grid[(grid["frequency"] > 0) | (grid["recency"] == 0)]  # a one-time buyer has recency 0
    values = _point(bgnbd.expected_purchases(grid, future_t=horizon_days))
    grid = grid.assign(expected_purchases=values)
    return grid.pivot(index="frequency", columns="recency", values="expected_purchases")
