"""mlc.review: `mlc diff` and `mlc graph` -- semantic diff of two versions of an application,
the impact of the change, the artifact diff and the lineage graph (docs/review.md)."""
