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
