"""Smoke test of the sensor-tick benchmark (``python -m benchmarks.sensor_ticks``) and of the seeded moto
server it uses for S3: the server's indexed listing gives S3's answer page by page (keys, folders,
continuation), and a small run of the benchmark on local disk and S3 fills its table. No timing is
asserted: figures belong to a full run of the benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import boto3

from benchmarks.sensor_ticks import SeededMoto
from retina_assets.settings import REPO_ROOT


def test_the_seeded_moto_server_lists_like_s3(tmp_path: Path) -> None:
    moto = SeededMoto(tmp_path)
    try:
        client = boto3.client(
            "s3", endpoint_url=moto.endpoint, region_name="us-east-1",
            aws_access_key_id="bench", aws_secret_access_key="bench",
        )  # fmt: skip
        client.create_bucket(Bucket="bench-listing")
        keys = [f"landing/demo/orders_{i:05d}.csv" for i in range(2_500)]
        keys += ["landing/demo/sub/a.csv", "landing/demo/sub/b.csv", "landing/other/c.csv", "lake/d.bin"]
        moto.seed("bench-listing", [(key, key) for key in keys[:-1]])
        client.put_object(Bucket="bench-listing", Key=keys[-1], Body=b"an upload over HTTP")
        client.delete_object(Bucket="bench-listing", Key=keys[3])
        keys.remove(keys[3])
        cases = [("landing/demo/", "/"), ("landing/demo/", ""), ("landing/", "/"), ("", "/"), ("lake/", "/")]
        for prefix, delimiter in cases:
            listed, folders = [], []
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket="bench-listing", Prefix=prefix, Delimiter=delimiter, PaginationConfig={"PageSize": 7}
            )
            for page in pages:
                listed += [item["Key"] for item in page.get("Contents", [])]
                folders += [item["Prefix"] for item in page.get("CommonPrefixes", [])]
            below = sorted(k for k in keys if k.startswith(prefix))
            nested = {k for k in below if delimiter and delimiter in k[len(prefix) :]}
            assert listed == [k for k in below if k not in nested], (prefix, delimiter)
            assert folders == sorted(
                {prefix + k[len(prefix) :].split(delimiter)[0] + delimiter for k in nested}
            )
    finally:
        moto.stop()


def test_the_benchmark_runs_and_writes_its_table(tmp_path: Path) -> None:
    results = tmp_path / "sensor_ticks.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.sensor_ticks", "--counts", "30", "--backends", "local,s3",
         "--repeats", "2", "--results", str(results)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in results.read_text().splitlines() if line.startswith(("| local", "| s3"))]
    assert [row.split(" | ")[:2] for row in rows] == [["| local", "30"], ["| s3", "30"]]
