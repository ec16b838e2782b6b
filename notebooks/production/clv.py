# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Customer lifetime value (BG/NBD + Gamma-Gamma)
#
# Production notebook: the Dagster asset `<client>/clv` runs it for one client and `as_of_date`, with the
# exact `customer_rfm` version of that day (and, for the holdout check, of `holdout_days` earlier) as
# parameters. It fits BG/NBD (repeat purchases, dropout) and Gamma-Gamma (spend per purchase) by maximum
# likelihood with pymc-marketing, and hands per-customer predictions back to the asset, which stores them
# as an immutable version of `<client>/clv`. Time is in days.

# %% tags=["parameters"]
client = "cdnow"
lake_uri = ""  # the lake the paths below belong to
as_of_date = "1997-09-30"
customer_rfm_path = ""  # exact version of <client>/customer_rfm for as_of_date
calibration_rfm_path = None  # exact version of holdout_days earlier (None: no holdout check)
horizon_days = 90
clv_months = 12
holdout_days = 90
output_dir = None  # set by the runner; None when run by hand (nothing is handed back)

# %%
import matplotlib.pyplot as plt

from retina_assets import lake, notebooks
from retina_assets.models import clv

lake.connect(lake_uri)
rfm = lake.load(customer_rfm_path)  # one exact version, as stored
print(f"{client} {as_of_date}: {len(rfm):,} customers, {int((rfm['frequency'] > 0).sum()):,} repeat buyers")
rfm.describe()

# %% [markdown]
# ## Fit

# %%
fit = clv.fit_clv(rfm)
fit.parameters, fit.diagnostics

# %% [markdown]
# ## Predictions per customer

# %%
predictions = clv.predict_clv(fit, rfm, horizon_days=horizon_days, clv_months=clv_months)
predictions.describe()

# %% [markdown]
# ## Frequency/recency heat map: expected purchases in the next `horizon_days` days

# %%
matrix = clv.frequency_recency_matrix(
    fit.bgnbd,
    T=float(rfm["T"].max()),
    horizon_days=horizon_days,
    max_frequency=int(rfm["frequency"].quantile(0.99)) + 1,
    max_recency=float(rfm["T"].max()),
)
fig, ax = plt.subplots(figsize=(8, 5))
image = ax.imshow(matrix.values, origin="lower", aspect="auto", cmap="viridis",
                  extent=(matrix.columns.min(), matrix.columns.max(), matrix.index.min(), matrix.index.max()))
ax.set(xlabel="recency (days)", ylabel="frequency (repeat purchases)",
       title=f"Expected purchases in the next {horizon_days} days (customer age {rfm['T'].max():.0f} days)")
fig.colorbar(image, ax=ax)
plt.show()

# %% [markdown]
# ## Calibration vs holdout
#
# BG/NBD refitted on the `customer_rfm` of `holdout_days` earlier; for those customers, the repeat purchases
# they actually made since then against what that fit expected, by their calibration frequency.

# %%
holdout = None
if calibration_rfm_path:
    calibration = lake.load(calibration_rfm_path)
    calibration_fit = clv.fit_bgnbd(calibration)
    holdout = clv.holdout_comparison(calibration_fit, calibration, rfm)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(holdout["calibration_frequency"], holdout["actual"], "o-", label="actual")
    ax.plot(holdout["calibration_frequency"], holdout["expected"], "s--", label="BG/NBD expected")
    ax.set(xlabel="repeat purchases in calibration", ylabel=f"mean purchases in the {holdout_days} days after",
           title="Calibration vs holdout")
    ax.legend()
    plt.show()
else:
    print("no customer_rfm version holdout_days earlier: holdout check skipped")
holdout

# %%
metadata = {"parameters": fit.parameters, "diagnostics": fit.diagnostics,
            "horizon_days": horizon_days, "clv_months": clv_months}
if holdout is not None:
    metadata["holdout"] = {
        "days": holdout_days,
        "actual_purchases_per_customer": float((holdout["actual"] * holdout["customers"]).sum() / holdout["customers"].sum()),
        "expected_purchases_per_customer": float((holdout["expected"] * holdout["customers"]).sum() / holdout["customers"].sum()),
    }
if output_dir:
    notebooks.save_output(output_dir, predictions, metadata)
metadata
