"""Online feature store: one packed record per entity per feature group.

* :mod:`.codec`: the record byte format, ``schema_version``, ``encode``/``decode``/``decode_many``;
* :mod:`.store`: the ``OnlineStore`` protocol (``get_many``/``put_many``/``close``), ``open_store``;
* :mod:`.sqlite_store`: the SQLite backend (read-only for readers, a deadline per call);
* :mod:`.redis_store`: the Redis backend;
* :mod:`.deadline`: calls with a deadline that holds whatever the backend does;
* :mod:`.retrieval`: keys, ``put_features`` and ``get_features`` (N entities x G groups, one
  round trip, degrading to nulls when the store fails; real-time groups evaluated at request time);
* :mod:`.tiles`: tiled records of real-time groups (partials per tile, merged into windows at
  fetch time).
"""

from mlc.runtime.online_store.codec import CodecError, decode, decode_many, encode, schema_version
from mlc.runtime.online_store.retrieval import Retrieval, get_features, put_features, record_key
from mlc.runtime.online_store.store import OnlineStore, StoreError, StoreNotFound, StoreTimeout, open_store

__all__ = ["CodecError", "OnlineStore", "Retrieval", "StoreError", "StoreNotFound", "StoreTimeout", "decode", "decode_many",
           "encode", "get_features", "open_store", "put_features", "record_key", "schema_version"]
