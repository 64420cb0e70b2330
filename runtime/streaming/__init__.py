"""Real-time feature groups: the Spark Structured Streaming job (``job``), event decoding
(``decode``), the job's status and freshness records (``status``) and ``mlc events push``
(``push``). See README.md."""
