"""What runs after compilation: preprocessing executors, online stores, experiment assignment,
shard routing and the online predictor. Heavy libraries are imported inside the functions that
need them."""
