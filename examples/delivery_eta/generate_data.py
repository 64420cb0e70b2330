#!/usr/bin/env python3
"""Regenerate the sample data of the delivery_eta example (stdlib only, deterministic).

    python examples/delivery_eta/generate_data.py

Simulates one week (2024-06-01 .. 2024-06-07, local time) of food-delivery orders in seven
cities and writes:

* ``data/orders.csv``     - every order (about 3,500 rows), sorted by ``created_at``;
* ``data/orders_dev.csv`` - the first two days of beijing and hangzhou (the `dev` sample).

Delivery minutes are generated from a simple causal story a model can learn: the rider first
waits for the merchant's preparation (merchant-specific, longer at lunch/dinner peaks and when the
merchant has a backlog), then rides the road distance (about 1.3 x the straight line) at a speed
that depends on the rider, the weather and peak-hour traffic; each order the rider already
carries adds a few minutes. About 5 % of orders are cancelled (more in storms): they have no
pickup, no ``delivered_at`` and no ``delivery_minutes``.

All times are UTC ISO-8601; local hours use UTC+8 (China, Hong Kong) or UTC+3 (Riyadh).
The output is byte-identical on every run.
"""

from __future__ import annotations

import bisect
import csv
import io
import math
import random
from collections import defaultdict, deque
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "data"
SEED = 7
DAYS = 7
ORDERS_PER_DAY = 500
FIRST_DAY = datetime(2024, 6, 1)  # local midnight of the first day

# city -> (latitude, longitude, share of orders, UTC offset hours, riders, merchants)
CITIES = {
    "beijing": (39.9042, 116.4074, 0.24, 8, 18, 30),
    "shanghai": (31.2304, 121.4737, 0.24, 8, 18, 30),
    "shenzhen": (22.5431, 114.0579, 0.15, 8, 12, 20),
    "chengdu": (30.5728, 104.0668, 0.13, 8, 10, 18),
    "hangzhou": (30.2741, 120.1551, 0.12, 8, 10, 16),
    "hong_kong": (22.3193, 114.1694, 0.08, 8, 7, 12),
    "riyadh": (24.7136, 46.6753, 0.04, 3, 4, 6),
}
# weather -> (probability in China, speed factor, extra cancel probability)
WEATHER = {
    "sunny": (0.45, 1.00, 0.00),
    "cloudy": (0.30, 0.98, 0.00),
    "rainy": (0.18, 0.85, 0.02),
    "stormy": (0.07, 0.70, 0.08),
}
# hourly order volume (local hour 0..23): lunch and dinner peaks, quiet nights
HOURLY = [2, 1, 1, 0.5, 0.5, 0.5, 1, 3, 5, 4, 6, 14, 16, 9, 5, 4, 6, 12, 15, 11, 7, 5, 4, 3]
PEAK_HOURS = {11, 12, 17, 18, 19}


def weighted_choice(rng: random.Random, items: list, weights: list[float]):
    cumulative, total = [], 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    return items[bisect.bisect_right(cumulative, rng.random() * total)]


def jitter_point(rng: random.Random, lat: float, lon: float, km: float) -> tuple[float, float]:
    """A point about `km` (Gaussian radius) from (lat, lon)."""
    dy, dx = rng.gauss(0, km) / 111.0, rng.gauss(0, km) / (111.0 * math.cos(math.radians(lat)))
    return lat + dy, lon + dx


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    mean_lat = math.radians((a[0] + b[0]) / 2)
    return math.hypot((a[0] - b[0]) * 111.0, (a[1] - b[1]) * 111.0 * math.cos(mean_lat))


def iso(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else value


def build_world(rng: random.Random):
    merchants, riders, users = {}, {}, {}
    m = r = u = 0
    for city, (lat, lon, share, _offset, n_riders, n_merchants) in CITIES.items():
        for _ in range(n_merchants):
            m += 1
            merchants[f"m{m:04d}"] = {
                "city": city, "pos": jitter_point(rng, lat, lon, 4.0),
                "prep": math.exp(rng.gauss(math.log(11.0), 0.35)),  # typical prep minutes
                "popularity": rng.paretovariate(1.5),
            }
        for _ in range(n_riders):
            r += 1
            riders[f"r{r:04d}"] = {"city": city, "speed": rng.uniform(0.80, 1.25),
                                   "shifts": rng.random() < 0.7}
        for _ in range(int(share * 800)):
            u += 1
            users[f"u{u:05d}"] = {"city": city, "pos": jitter_point(rng, lat, lon, 5.0),
                                  "activity": rng.paretovariate(2.0)}
    return merchants, riders, users


def main() -> None:
    rng = random.Random(SEED)
    merchants, riders, users = build_world(rng)
    by_city = {
        kind: {city: [key for key, value in table.items() if value["city"] == city] for city in CITIES}
        for kind, table in (("merchants", merchants), ("riders", riders), ("users", users))
    }
    weather_names = list(WEATHER)

    drafts = []
    for day in range(DAYS):
        # weather per city and 3-hour block; riyadh is always sunny in June
        weather = {(city, block): ("sunny" if city == "riyadh" else
                                   weighted_choice(rng, weather_names, [w[0] for w in WEATHER.values()]))
                   for city in CITIES for block in range(8)}
        volume = ORDERS_PER_DAY * (1.15 if (FIRST_DAY.weekday() + day) % 7 in (5, 6) else 1.0)  # weekends
        for _ in range(round(volume)):
            city = weighted_choice(rng, list(CITIES), [c[2] for c in CITIES.values()])
            hour = weighted_choice(rng, list(range(24)), HOURLY)
            local = FIRST_DAY + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
            created = (local - timedelta(hours=CITIES[city][3])).replace(tzinfo=timezone.utc)
            drafts.append((created, city, hour, weather[(city, hour // 3)]))
    drafts.sort(key=lambda item: (item[0], item[1]))

    rider_recent: dict[str, deque] = defaultdict(deque)     # created times of a rider's orders
    merchant_recent: dict[str, deque] = defaultdict(deque)  # created times of a merchant's orders
    rows = []
    for number, (created, city, hour, weather) in enumerate(drafts, start=1):
        user_id = weighted_choice(rng, by_city["users"][city],
                                  [users[key]["activity"] for key in by_city["users"][city]])
        user = users[user_id]
        candidates = by_city["merchants"][city]
        merchant_id = weighted_choice(rng, candidates, [
            merchants[key]["popularity"] / (1.0 + km_between(user["pos"], merchants[key]["pos"])) ** 3
            for key in candidates])
        merchant = merchants[merchant_id]
        city_riders = by_city["riders"][city]
        rider_id = weighted_choice(rng, city_riders,
                                   [2.0 if riders[key]["shifts"] else 1.0 for key in city_riders])
        rider = riders[rider_id]
        peak = hour in PEAK_HOURS
        items = min(12, 1 + int(rng.expovariate(0.8)))
        order_value = round(items * rng.uniform(12.0, 38.0) * (3.2 if city == "riyadh" else 1.0), 2)

        window = timedelta(minutes=30)
        for queue in (rider_recent[rider_id], merchant_recent[merchant_id]):
            while queue and created - queue[0] > window:
                queue.popleft()
        rider_load, merchant_backlog = len(rider_recent[rider_id]), len(merchant_recent[merchant_id])
        rider_recent[rider_id].append(created)
        merchant_recent[merchant_id].append(created)

        _, speed_factor, cancel_extra = WEATHER[weather]
        status = "cancelled" if rng.random() < 0.04 + cancel_extra + 0.01 * rider_load else "delivered"
        straight_km = km_between(user["pos"], merchant["pos"])
        prep = (merchant["prep"] * math.exp(rng.gauss(0, 0.2)) * (1.3 if peak else 1.0)
                + 0.6 * items + 1.2 * merchant_backlog)
        speed_km_per_min = 0.32 * rider["speed"] * speed_factor * (0.85 if peak else 1.0)
        reach_merchant = rng.uniform(3.0, 9.0) + (3.0 if peak else 0.0)
        ride = 1.3 * straight_km / speed_km_per_min
        minutes = (max(prep, reach_merchant) + ride + 2.5 * rider_load + 2.0
                   + rng.gauss(0, 2.5))
        minutes = max(8.0, minutes)

        row = {
            "order_id": f"o{number:06d}", "created_at": created, "city": city, "user_id": user_id,
            "merchant_id": merchant_id, "rider_id": rider_id, "weather": weather,
            "user_lat": f"{user['pos'][0]:.5f}", "user_lon": f"{user['pos'][1]:.5f}",
            "merchant_lat": f"{merchant['pos'][0]:.5f}", "merchant_lon": f"{merchant['pos'][1]:.5f}",
            "item_count": str(items), "order_value": f"{order_value:.2f}", "status": status,
            "prep_minutes": "", "delivered_at": "", "delivery_minutes": "",
        }
        if status == "delivered":
            row["prep_minutes"] = f"{prep:.1f}"
            row["delivery_minutes"] = f"{minutes:.1f}"
            row["delivered_at"] = created + timedelta(seconds=round(minutes * 60))
        rows.append(row)

    header = ["order_id", "created_at", "city", "user_id", "merchant_id", "rider_id", "weather",
              "user_lat", "user_lon", "merchant_lat", "merchant_lon", "item_count", "order_value",
              "status", "prep_minutes", "delivered_at", "delivery_minutes"]
    dev_cutoff = datetime(2024, 6, 2, 16, 0, tzinfo=timezone.utc)  # 2024-06-03 00:00 in China
    dev_rows = [row for row in rows
                if row["city"] in ("beijing", "hangzhou") and row["created_at"] < dev_cutoff]
    for name, selected in (("orders.csv", rows), ("orders_dev.csv", dev_rows)):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for row in selected:
            writer.writerow({key: iso(value) for key, value in row.items()})
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / name).write_bytes(buffer.getvalue().encode("utf-8"))
        delivered = sum(1 for row in selected if row["status"] == "delivered")
        print(f"wrote data/{name}: {len(selected)} rows, {delivered} delivered")


if __name__ == "__main__":
    main()
