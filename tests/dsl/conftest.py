import pytest

from mlc.dsl import BOOL, FLOAT64, INT64, STRING, TIMESTAMP, MappingScope, list_of

COLUMNS = {
    "distance_km": FLOAT64,
    "amount": FLOAT64,
    "eta_minutes": FLOAT64,
    "quantity": INT64,
    "city": STRING,
    "status": STRING,
    "user_id": STRING,
    "merchant_id": STRING,
    "is_vip": BOOL,
    "event_time": TIMESTAMP,
    "pickup_time": TIMESTAMP,
    "tags": list_of(STRING),
    "rider_activity.deliveries_1h": INT64,
    "user_activity.clicks_7d": INT64,
}


@pytest.fixture
def scope():
    return MappingScope(COLUMNS)
