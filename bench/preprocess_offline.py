"""Benchmark: the CTR example's preprocessing over 1M rows on Spark, offline.

    .venv/bin/pip install pandas pyarrow      # only for the pandas-UDF variant
    .venv/bin/python bench/preprocess_offline.py [--rows 1000000] [--runs 3]

Three implementations of the same logic over the same parquet input (generated once into
bench/out/), each forced with the `noop` sink, runs interleaved:
1. the generated module run by the Spark executor (native Columns);
2. hand-written native PySpark;
3. the same logic as pandas UDFs (vectorised per Arrow batch).
Goals (issue 3): generated >= 0.95x native throughput, >= 5x the pandas UDF.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from preprocess_online import OUT, compiled, fitted_constants  # noqa: E402

VOCAB_COLUMNS = (5, 6, 9, 14, 17, 20, 22, 23, 25)
HASH_SIZES = {1: 2000, 2: 1000, 3: 1000000, 4: 1000000, 7: 20000, 8: 1000, 10: 100000, 11: 10000, 12: 1000000,
              13: 5000, 15: 20000, 16: 1000000, 18: 10000, 19: 5000, 21: 1000000, 24: 300000, 26: 200000}
GROUP_COLUMNS = ["user_clicks.clicks_1d", "user_clicks.clicks_7d", "user_clicks.impressions_1d",
                 "user_clicks.impressions_7d", "user_clicks.impressions_1h", "user_clicks.distinct_ads_7d",
                 "ad_clicks.clicks_1d", "ad_clicks.clicks_7d", "ad_clicks.impressions_1d", "ad_clicks.impressions_7d",
                 "ad_clicks.impressions_1h", "ad_clicks.distinct_users_7d"]


def input_data(spark, rows: int):
    """Synthetic Criteo-like rows with feature-group columns, written once as parquet."""
    from pyspark.sql import functions as F

    path = OUT / f"ctr_input_{rows}.parquet"
    if not path.exists():
        df = spark.range(rows)
        cols = [F.col("id").alias("row_id"), (F.col("id") % 50000).alias("user_id"), (F.col("id") % 3000).alias("ad_id")]
        for i in range(1, 14):
            value = (F.xxhash64(F.col("id"), F.lit(i)) % 1000).cast("double")
            cols.append(F.when(F.col("id") % (i + 7) == 0, None).otherwise(value).alias(f"i{i}"))
        for c in range(1, 27):
            card = 10 + (c * 997) % 5000
            token = F.lower(F.hex(F.xxhash64(F.col("id") % card, F.lit(c)))).substr(1, 8)
            cols.append(F.when(F.col("id") % (c + 11) == 0, None).otherwise(token).alias(f"c{c}"))
        for j, name in enumerate(GROUP_COLUMNS):
            cols.append((F.abs(F.xxhash64(F.col("id"), F.lit(100 + j))) % 400).alias(name))
        df.select(*cols).write.mode("overwrite").parquet(str(path))
    return spark.read.parquet(str(path))


def native_columns(fitted: dict):
    """The CTR preprocessing written by hand with pyspark.sql.functions."""
    from pyspark.sql import functions as F

    def z(x, analyzer):
        c = fitted[analyzer]
        return (x - F.lit(c["mean"])) / F.lit(c["std"]) if c["std"] else F.lit(0.0)

    def g(name):
        return F.col(f"`{name}`")

    out = []
    for i in range(1, 14):
        x = F.log1p(F.greatest(F.coalesce(F.col(f"i{i}"), F.lit(0.0)), F.lit(0.0)))
        out.append(z(x, f"dense_i{i}:standardize:0").alias(f"dense_i{i}"))
    for who, group in (("user", "user_clicks"), ("ad", "ad_clicks")):
        for w in ("1d", "7d"):
            ctr = (F.coalesce(g(f"{group}.clicks_{w}"), F.lit(0)) + 1.0) / (F.coalesce(g(f"{group}.impressions_{w}"), F.lit(0)) + 50.0)
            out.append(ctr.alias(f"{who}_ctr_{w}"))
            out.append(z(F.log(ctr), f"{who}_ctr_{w}_z:standardize:0").alias(f"{who}_ctr_{w}_z"))
    for name, column in (("user_activity_1h", "user_clicks.impressions_1h"), ("user_breadth_7d", "user_clicks.distinct_ads_7d"),
                         ("ad_freshness_1h", "ad_clicks.impressions_1h"), ("ad_reach_7d", "ad_clicks.distinct_users_7d")):
        out.append(z(F.log1p(F.coalesce(g(column), F.lit(0)).cast("double")), f"{name}:standardize:0").alias(name))
    for c in VOCAB_COLUMNS:
        vocab = fitted[f"cat_c{c}:vocabulary:0"]["vocabulary"]
        mapping = F.create_map(*[item for i, v in enumerate(vocab) for item in (F.lit(v), F.lit(i + 1))])
        out.append(F.coalesce(mapping[F.col(f"c{c}")], F.lit(0)).alias(f"cat_c{c}"))
    for c, n in HASH_SIZES.items():
        out.append(F.when(F.col(f"c{c}").isNull(), 0).otherwise(F.pmod(F.xxhash64(F.col(f"c{c}")), F.lit(n))).alias(f"cat_c{c}"))
    out.append(F.pmod(F.xxhash64(F.col("user_id").cast("string")), F.lit(100000)).alias("user_bucket"))
    out.append(F.pmod(F.xxhash64(F.col("ad_id").cast("string")), F.lit(10000)).alias("ad_bucket"))
    boundaries = fitted["ad_reach_bucket:quantile_bucketize:0"]["boundaries"]
    reach = F.coalesce(g("ad_clicks.distinct_users_7d"), F.lit(0)).cast("double")
    out.append(sum((F.when(reach >= F.lit(b), 1).otherwise(0) for b in boundaries), F.lit(0)).cast("bigint").alias("ad_reach_bucket"))

    def cross(a, b, n):
        joined = F.concat_ws("\u0001", F.col(a).cast("string"), F.col(b).cast("string"))
        return F.when(F.col(a).isNull() | F.col(b).isNull(), 0).otherwise(F.pmod(F.xxhash64(joined), F.lit(n)))

    out += [cross("user_id", "ad_id", 1000000).alias("user_x_ad"), cross("c14", "c17", 1000).alias("c14_x_c17"),
            cross("ad_id", "c6", 50000).alias("ad_x_c6")]
    return out


def pandas_udf_columns(fitted: dict):
    """The same logic as pandas UDFs (Series -> Series, vectorised with NumPy where possible)."""
    import numpy as np
    import pandas as pd
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf
    from xxhash import xxh64_intdigest

    def h(text: str) -> int:
        value = xxh64_intdigest(text.encode(), 42)
        return value - (1 << 64) if value >= 1 << 63 else value

    def standardized(analyzer, transform):
        c = fitted[analyzer]

        @pandas_udf("double")
        def run(x: pd.Series) -> pd.Series:
            values = transform(x)
            return (values - c["mean"]) / c["std"] if c["std"] else values * 0.0
        return run

    def hashed(n):
        @pandas_udf("long")
        def run(x: pd.Series) -> pd.Series:
            return pd.Series([0 if v is None or v != v else h(str(v)) % n for v in x], dtype="int64")
        return run

    out = []
    for i in range(1, 14):
        out.append(standardized(f"dense_i{i}:standardize:0", lambda x: np.log1p(np.maximum(x.fillna(0.0), 0.0)))(F.col(f"i{i}")).alias(f"dense_i{i}"))
    def vocabulary(vocab):
        @pandas_udf("long")
        def lookup(x: pd.Series) -> pd.Series:
            return x.map(vocab).fillna(0).astype("int64")
        return lookup

    for c in VOCAB_COLUMNS:
        vocab = {v: i + 1 for i, v in enumerate(fitted[f"cat_c{c}:vocabulary:0"]["vocabulary"])}
        out.append(vocabulary(vocab)(F.col(f"c{c}")).alias(f"cat_c{c}"))
    for c, n in HASH_SIZES.items():
        out.append(hashed(n)(F.col(f"c{c}")).alias(f"cat_c{c}"))
    out.append(hashed(100000)(F.col("user_id")).alias("user_bucket"))
    out.append(hashed(10000)(F.col("ad_id")).alias("ad_bucket"))

    def ctr_z(c):
        @pandas_udf("double")
        def run(clicks: pd.Series, imps: pd.Series) -> pd.Series:
            return (np.log((clicks.fillna(0) + 1.0) / (imps.fillna(0) + 50.0)) - c["mean"]) / c["std"]
        return run

    @pandas_udf("double")
    def ctr(clicks: pd.Series, imps: pd.Series) -> pd.Series:
        return (clicks.fillna(0) + 1.0) / (imps.fillna(0) + 50.0)

    for who, group in (("user", "user_clicks"), ("ad", "ad_clicks")):
        for w in ("1d", "7d"):
            args = (F.col(f"`{group}.clicks_{w}`"), F.col(f"`{group}.impressions_{w}`"))
            out.append(ctr(*args).alias(f"{who}_ctr_{w}"))
            out.append(ctr_z(fitted[f"{who}_ctr_{w}_z:standardize:0"])(*args).alias(f"{who}_ctr_{w}_z"))
    for name, column in (("user_activity_1h", "user_clicks.impressions_1h"), ("user_breadth_7d", "user_clicks.distinct_ads_7d"),
                         ("ad_freshness_1h", "ad_clicks.impressions_1h"), ("ad_reach_7d", "ad_clicks.distinct_users_7d")):
        out.append(standardized(f"{name}:standardize:0", lambda x: np.log1p(x.fillna(0).astype("float64")))(
            F.col(f"`{column}`")).alias(name))
    boundaries = np.array(fitted["ad_reach_bucket:quantile_bucketize:0"]["boundaries"])

    @pandas_udf("long")
    def reach_bucket(x: pd.Series) -> pd.Series:
        return pd.Series(np.searchsorted(boundaries, x.fillna(0).astype("float64"), side="right"), dtype="int64")
    out.append(reach_bucket(F.col("`ad_clicks.distinct_users_7d`")).alias("ad_reach_bucket"))

    def crossed(n):
        @pandas_udf("long")
        def run(a: pd.Series, b: pd.Series) -> pd.Series:
            return pd.Series([0 if x is None or y is None or x != x or y != y else h(f"{x}\u0001{y}") % n
                              for x, y in zip(a, b)], dtype="int64")
        return run

    out += [crossed(1000000)(F.col("user_id"), F.col("ad_id")).alias("user_x_ad"),
            crossed(1000)(F.col("c14"), F.col("c17")).alias("c14_x_c17"),
            crossed(50000)(F.col("ad_id"), F.col("c6")).alias("ad_x_c6")]
    return out


def interleaved_runs(df, variants: dict, runs: int) -> dict[str, list[float]]:
    """Each run times every variant (``(frame, columns)``: the columns are selected from that frame,
    ``df`` or the generated module's staged frame over it) once, in turn, so machine noise hits all
    of them alike; the first run warms the JVM and is dropped."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs + 1):
        for name, (frame, columns) in variants.items():
            start = time.perf_counter()
            frame.select(*columns).write.format("noop").mode("overwrite").save()
            samples[name].append(time.perf_counter() - start)
    return {name: values[1:] for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from mlc.runtime.preprocess import spark_features
    from mlc.runtime.features.session import local_session

    ir, module = compiled()
    fitted = fitted_constants(ir, module)
    spark = local_session("bench-offline")
    df = input_data(spark, args.rows)
    frame, generated = spark_features(module, df, fitted)   # derived features in select stages over df
    variants = {"generated (Spark executor)": (frame, [col.alias(name) for name, col in generated.items()]),
                "hand-written native PySpark": (df, native_columns(fitted))}
    try:
        variants["pandas UDF (same logic)"] = (df, pandas_udf_columns(fitted))
    except ImportError as exc:
        print(f"pandas UDF variant skipped: {exc}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}, "
          f"Spark {spark.version} local[*]; {args.rows:,} rows, {len(module.FEATURES)} features")
    medians = {}
    for name, samples in interleaved_runs(df, variants, args.runs).items():
        medians[name] = statistics.median(samples)
        print(f"  {name}: median {medians[name]:.2f} s ({args.rows / medians[name]:,.0f} rows/s), "
              f"best {min(samples):.2f} s, over {args.runs} interleaved runs")
    native = medians["hand-written native PySpark"]
    print(f"  generated throughput / native: {native / medians['generated (Spark executor)']:.2f}x")
    if "pandas UDF (same logic)" in medians:
        print(f"  generated throughput / pandas UDF: {medians['pandas UDF (same logic)'] / medians['generated (Spark executor)']:.2f}x")


if __name__ == "__main__":
    main()
