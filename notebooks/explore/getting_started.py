# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Getting started with the lake
#
# Load a client's data, list its versions, follow a version's lineage back to the landing file, and plot
# data quality and volume over time: all from the lake alone (`retina_assets.lake`), no Dagster needed.
# Start JupyterLab on the project's environment with `bash scripts/jupyter.sh`; the lake is
# `RETINA_LAKE_URI` (default `./.lake`, what `bash scripts/start.sh` fills).

# %% tags=["parameters"]
client = "demo"
dataset = "orders"
lake_uri = None  # None: RETINA_LAKE_URI, else ./.lake

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd

from retina_assets import lake

lake.connect(lake_uri or os.environ.get("RETINA_LAKE_URI") or ".lake")
partitions = lake.partitions(f"{client}/validated_{dataset}")
print(f"{client}/validated_{dataset}: {len(partitions)} partitions, {partitions[0]} .. {partitions[-1]}")

# %% [markdown]
# ## Load data: current versions of every partition (each row carries its `as_of_date`)

# %%
orders = lake.load(f"{client}/validated_{dataset}")
orders.head()

# %% [markdown]
# ## Versions of one partition, and where the newest came from

# %%
versions = lake.versions(f"{client}/validated_{dataset}", partition=partitions[-1])
pd.DataFrame([{"created_at": v.created_at, "rows": v.row_count, "hash": v.content_hash[:12]} for v in versions])

# %%
for step in lake.lineage(versions[-1].path):
    print(step if isinstance(step, str) else f"{step.zone:>10}  {step.partition}  {step.row_count:>7,} rows  {step.path}")

# %% [markdown]
# ## Data quality and volume over time: raw rows, validated rows and the quarantined fraction per day

# %%
def rows_per_partition(name: str) -> pd.Series:
    return pd.Series({v.partition: v.row_count for v in lake.versions(name)}, dtype="int64")  # newest wins


quality = pd.DataFrame(
    {zone: rows_per_partition(f"{client}/{zone}_{dataset}") for zone in ("raw", "validated", "rejected")}
).fillna(0)
quality["reject_fraction"] = quality["rejected"] / quality["raw"].where(quality["raw"] > 0)
fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
quality[["raw", "validated"]].plot(ax=top, marker="o", title="rows per as_of_date")
quality["reject_fraction"].plot(ax=bottom, marker="o", color="tab:red", title="quarantined fraction")
bottom.set_xlabel("as_of_date")
plt.tight_layout()
plt.show()
quality

# %% [markdown]
# ## Features: the customer RFM summary of the last day

# %%
rfm = lake.load(f"{client}/customer_rfm", partition=partitions[-1])
rfm.describe()
