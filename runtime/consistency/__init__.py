"""``mlc consistency``: online/offline skew from the gateway's feature log (docs/consistency.md).

- :mod:`~mlc.runtime.consistency.rows`: logged records -> typed rows (raw fields read as offline);
- :mod:`~mlc.runtime.consistency.recompute`: the offline values on Spark (point in time, preprocessing);
- :mod:`~mlc.runtime.consistency.compare`: per feature comparison and cause classification;
- :mod:`~mlc.runtime.consistency.report`: the report and its text, JSON and Markdown renderings.
"""
