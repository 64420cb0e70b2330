"""Spec texts shared by tests (importable as `specs`: tests/ is on pytest's pythonpath)."""

# A small valid spec touching every section that has checks: tests change one thing in it.
MINIMAL_SPEC = """\
version: 1
name: demo
entities:
  rider: {keys: [rider_id]}
sources:
  orders:
    kind: csv
    path: data/orders.csv
    event_time: ts
    columns: {ts: timestamp, rider_id: int64, eta: float64, distance_km: float64, city: string, status: string}
feature_groups:
  rider_activity:
    entity: rider
    source: orders
    windows: [1h, 1d]
    filter: "status == 'delivered'"
    features:
      deliveries: count()
      avg_eta: avg(eta)
preprocess:
  inputs:
    rider_id: {dtype: int64}
    distance_km: {dtype: float64, default: 0.0}
    city: {dtype: string, default: unknown}
  features:
    log_dist: log1p(distance_km)
    dist_z: standardize(log_dist)
    load: "coalesce(rider_activity.deliveries_1h, 0)"
    city_id: hash_bucket(city, 100)
models:
  eta:
    type: dnn
    task: regression
    label: eta
    inputs: {dense: [dist_z, load], sparse: [city_id]}
    training: {source: orders, epochs: 2}
experiments:
  layers:
    ranking:
      experiments:
        e1:
          unit: rider_id
          traffic: 30
          targeting: "city in ['beijing']"
          variants: {a: {model: eta, weight: 50}, b: {model: eta, weight: 50}}
"""


# The smallest trainable spec: one CSV source, one derived input, one LR regression model trained
# with Horovod over 2 workers (tests of `mlc run --step train` and `mlc serve`).
TINY_TRAIN_SPEC = """\
version: 1
name: tiny
sources:
  events:
    kind: csv
    path: events.csv
    event_time: ts
    columns: {ts: timestamp, x: float64, y: float64}
preprocess:
  inputs:
    x: {dtype: float64, default: 0.0}
  features:
    lx: log1p(x)
models:
  m:
    type: lr
    task: regression
    label: y
    inputs: {dense: [lx]}
    training: {source: events, distributed: {engine: horovod, workers: 2}}
"""


def write_tiny_project(root, seed: int, single_process: bool = True) -> None:
    """TINY_TRAIN_SPEC as `t.mlc.yaml` with 200 seeded `events.csv` rows in ``root``; one epoch,
    a validation split, and (``single_process``) no Horovod."""
    import random

    rng = random.Random(seed)
    rows = ["ts,x,y"] + [f"2024-06-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,{rng.random() * 10:.4f},{rng.random():.4f}"
                         for i in range(200)]
    (root / "events.csv").write_text("\n".join(rows) + "\n")
    training = "training: {source: events, epochs: 1, validation: {last_fraction: 0.2}}" if single_process else \
        "training: {source: events, epochs: 1, validation: {last_fraction: 0.2}, distributed: {engine: horovod, workers: 2}}"
    spec = TINY_TRAIN_SPEC.replace("training: {source: events, distributed: {engine: horovod, workers: 2}}", training)
    assert spec != TINY_TRAIN_SPEC
    (root / "t.mlc.yaml").write_text(spec)


# Two training sources, three models: `click_lr` and `dwell_dnn` on `clicks` (only `dwell_dnn`
# reads the feature-group output), `purchase_lr` on `orders` (models sort by name: `clicks` is the first training source); `spare_*`
# are read by no model. Where
# each analyzer is fitted: tests/compiler/test_analyzer_checks.py, tests/runtime/test_fitting_plan.py.
TWO_SOURCE_SPEC = """\
version: 1
name: plan
entities:
  user: {keys: [user_id]}
sources:
  clicks:
    kind: csv
    path: clicks.csv
    event_time: ts
    columns: {ts: timestamp, user_id: string, x: float64, clicked: int64, dwell: float64}
  orders:
    kind: csv
    path: orders.csv
    event_time: ts
    columns: {ts: timestamp, user_id: string, amount: float64, bought: int64}
feature_groups:
  user_clicks:
    entity: user
    source: clicks
    windows: [1d]
    features: {n: count()}
preprocess:
  inputs:
    user_id: {dtype: string}
    x: {dtype: float64}
    amount: {dtype: float64}
  features:
    x_z: standardize(x)
    clicks_z: standardize(to_float(fillna(user_clicks.n_1d, 0)))
    amount_z: standardize(amount)
    spare_z: standardize(amount * 2.0)
    spare_clicks: "vocabulary(user_clicks.n_1d, 10)"
models:
  click_lr:
    type: lr
    task: classification
    label: clicked
    inputs: {dense: [x_z]}
    training: {source: clicks}
  dwell_dnn:
    type: dnn
    task: regression
    label: dwell
    inputs: {dense: [clicks_z, x_z]}
    training: {source: clicks}
  purchase_lr:
    type: lr
    task: classification
    label: bought
    inputs: {dense: [amount_z]}
    training: {source: orders}
"""


def write_two_source_project(root) -> str:
    """TWO_SOURCE_SPEC as ``plan.mlc.yaml`` with its data: 60 clicks of 3 users every 20 minutes
    (some labels null) and 40 orders; returns the spec path."""
    lines = ["ts,user_id,x,clicked,dwell"]
    for i in range(60):
        clicked = "" if i % 5 == 0 else str(i % 2)
        dwell = "" if i % 4 == 0 else f"{i * 1.5:.1f}"
        lines.append(f"{_ts(i * 1200)},u{i % 3},{(i * 7) % 11 + 0.5},{clicked},{dwell}")
    (root / "clicks.csv").write_text("\n".join(lines) + "\n")
    lines = ["ts,user_id,amount,bought"]
    for i in range(40):
        bought = "" if i % 3 == 0 else str(i % 2)
        lines.append(f"{_ts(i * 1800)},u{i % 3},{100 + (i * 37) % 23}.0,{bought}")
    (root / "orders.csv").write_text("\n".join(lines) + "\n")
    (root / "plan.mlc.yaml").write_text(TWO_SOURCE_SPEC)
    return str(root / "plan.mlc.yaml")


def _ts(seconds: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(1717200000 + seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
