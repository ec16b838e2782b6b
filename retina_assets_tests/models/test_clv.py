"""The CLV model: BG/NBD fitted by maximum likelihood reproduces the published CDNOW parameters, and the
per-customer predictions agree with the closed-form BG/NBD expressions evaluated independently here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln, gammaln, hyp2f1

from retina_assets.models import clv
from retina_assets.settings import REPO_ROOT

CDNOW = REPO_ROOT.parent / "shared" / "data" / "cdnow_lifetimes"
SUMMARY = CDNOW / "cdnow_customers_summary.csv.gz"
# Fader, Hardie & Lee (2005), "Counting your customers the easy way", table 1 (weeks, 39-week calibration)
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def _summary(path: Path = SUMMARY) -> pd.DataFrame:
    if not path.exists():
        pytest.skip(f"{path} is not present (shared data beside the repository)")
    return pd.read_csv(path).rename(columns={"ID": "customer_id"})


@pytest.fixture(scope="module")
def cdnow_fit() -> tuple[pd.DataFrame, object]:
    data = _summary()
    return data, clv.fit_bgnbd(data)


def test_bgnbd_reproduces_the_published_cdnow_parameters(cdnow_fit: tuple[pd.DataFrame, object]) -> None:
    data, model = cdnow_fit
    assert len(data) == 2357
    fitted = clv.fitted_parameters(model, clv.BGNBD_PARAMETERS)
    for name, published in PUBLISHED.items():
        assert fitted[name] == pytest.approx(published, rel=0.02), (name, fitted[name], published)


def _log_likelihood(params: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:  # noqa: N803
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.where(
        x > 0, np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x), -np.inf
    )
    return float(np.sum(a1 + a2 + np.logaddexp(a3, a4)))


def _expected_purchases(
    params: dict[str, float], t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:  # noqa: N803
    """Fader, Hardie & Lee (2005), equation (10): E[Y(t) | x, t_x, T]."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    alive = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return head * body / alive


def _probability_alive(params: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:  # noqa: N803
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    odds = (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return np.where(x > 0, 1 / (1 + odds), 1.0)


def test_the_fit_is_the_likelihood_maximum(cdnow_fit: tuple[pd.DataFrame, object]) -> None:
    data, model = cdnow_fit
    fitted = clv.fitted_parameters(model, clv.BGNBD_PARAMETERS)
    x, t_x, T = (data[c].to_numpy(float) for c in ("frequency", "recency", "T"))  # noqa: N806
    best = _log_likelihood(fitted, x, t_x, T)
    assert best == pytest.approx(-9582.4, abs=1.0)  # the paper's log-likelihood at its estimates
    for name in fitted:  # moving any parameter by 2% lowers the likelihood
        for step in (0.98, 1.02):
            assert _log_likelihood({**fitted, name: fitted[name] * step}, x, t_x, T) < best


def test_predictions_agree_with_the_closed_form_expressions(cdnow_fit: tuple[pd.DataFrame, object]) -> None:
    data, model = cdnow_fit
    fit = clv.ClvFit(model, None, clv.fitted_parameters(model, clv.BGNBD_PARAMETERS))
    predictions = clv.predict_clv(fit, data, horizon_days=39).set_index("customer_id")
    data = data.assign(customer_id=data["customer_id"].astype(str)).set_index("customer_id")
    predictions = predictions.loc[data.index]
    x, t_x, T = (data[c].to_numpy(float) for c in ("frequency", "recency", "T"))  # noqa: N806
    expected = _expected_purchases(fit.parameters, 39.0, x, t_x, T)
    np.testing.assert_allclose(predictions["expected_purchases"], expected, rtol=1e-4)
    np.testing.assert_allclose(
        predictions["probability_alive"], _probability_alive(fit.parameters, x, t_x, T), rtol=1e-4
    )
    assert predictions["expected_spend"].isna().all() and predictions["expected_clv"].isna().all()


def test_gamma_gamma_and_clv_on_monetary_values() -> None:
    rng = np.random.default_rng(7)
    n = 400
    frequency = rng.poisson(2.0, n)
    recency = np.where(frequency > 0, rng.uniform(10, 200, n), 0.0)
    monetary = np.where(frequency > 0, rng.gamma(4.0, 10.0, n), 0.0)
    rfm = pd.DataFrame(
        {"customer_id": [f"c{i:04d}" for i in range(n)], "frequency": frequency, "recency": recency,
         "T": 250.0, "monetary_value": monetary}
    )  # fmt: skip
    fit = clv.fit_clv(rfm)
    assert set(fit.parameters) == {"r", "alpha", "a", "b", "p", "q", "v"}
    assert fit.diagnostics["gamma_gamma_customers"] == int(((frequency > 0) & (monetary > 0)).sum())
    predictions = clv.predict_clv(fit, rfm, horizon_days=90, clv_months=12)
    assert list(predictions.columns) == list(clv.PREDICTION_COLUMNS)
    assert (predictions["expected_clv"] > 0).all()
    # the Gamma-Gamma mean spend: p*v/(q-1) shrunk towards each buyer's own mean (Fader & Hardie's eq.)
    p, q, v = (fit.parameters[k] for k in ("p", "q", "v"))
    x, m = rfm["frequency"].to_numpy(float), rfm["monetary_value"].to_numpy(float)
    spend = np.where(x > 0, (p * (v + x * m)) / (p * x + q - 1), p * v / (q - 1))
    np.testing.assert_allclose(predictions["expected_spend"], spend, rtol=1e-4)


def test_bad_rfm_tables_are_refused_with_the_problem_named() -> None:
    with pytest.raises(clv.ClvDataError, match="lacks column"):
        clv.check_rfm(pd.DataFrame({"customer_id": ["a"], "frequency": [1]}))
    with pytest.raises(clv.ClvDataError, match="recency <= T"):
        clv.check_rfm(pd.DataFrame({"customer_id": ["a"], "frequency": [1], "recency": [5.0], "T": [3.0]}))
    with pytest.raises(clv.ClvDataError, match="duplicate customer_id"):
        clv.check_rfm(
            pd.DataFrame({"customer_id": ["a", "a"], "frequency": [0, 0], "recency": [0, 0], "T": [1, 1]})
        )
    few = pd.DataFrame({"customer_id": ["a", "b"], "frequency": [1, 0], "recency": [2.0, 0], "T": [5.0, 5.0],
                        "monetary_value": [3.0, 0.0]})  # fmt: skip
    with pytest.raises(clv.ClvDataError, match="repeat buyers"):
        clv.fit_gamma_gamma(few)
