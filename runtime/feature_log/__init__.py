"""The feature log: what serving used, per sampled request (docs/feature-log.md).

* :mod:`.format`: the record (version 1), ``Capture`` (what the predictor hands over),
  ``build_record``, ``request_rows``;
* :mod:`.writer`: ``FeatureLog`` (sampling, bounded queue, writer thread), the sinks
  ``RotatingFiles`` and ``Stdout``;
* :mod:`.reader`: ``read_logs`` (skips and counts bad, foreign and other-version lines).
"""
