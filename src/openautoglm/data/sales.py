"""The bundled sample sales database: generated, never downloaded, the same numbers on every machine.

Every row is a pure function of (date, product, region) through a keyed hash, so generating the database again,
or extending it day by day as the calendar moves, gives the same numbers for the same days. The database covers
``WINDOW_DAYS`` days up to today (the caller's today), so "上周" and "上个月" always have data.

Schema (also what ``sql.query`` describes to the model)::

    products(id INTEGER PRIMARY KEY, sku TEXT, name TEXT, name_en TEXT, category TEXT, category_en TEXT,
             unit_price REAL)                                   -- name/category in Chinese, *_en in English
    regions(id INTEGER PRIMARY KEY, name TEXT, name_en TEXT)    -- 华东 East China, ...
    sales(date TEXT 'YYYY-MM-DD', product_id INTEGER, region_id INTEGER, units INTEGER, revenue REAL)
    sales_detail VIEW(date, product, product_en, category, category_en, region, region_en, units, revenue)
    meta(key TEXT PRIMARY KEY, value TEXT)                      -- version, first_date, last_date
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from .. import sqlite_driver

VERSION = "1"
WINDOW_DAYS = 730


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    sku: str
    name: str
    name_en: str
    category: str
    category_en: str
    unit_price: float
    popularity: float  # mean units per region per day
    seasonality: tuple[float, ...]  # multiplier per month, January first


@dataclass(frozen=True, slots=True)
class Region:
    id: int
    name: str
    name_en: str
    weight: float


_FLAT = (1.0,) * 12
_WINTER = (1.3, 1.2, 1.0, 0.9, 0.8, 0.7, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4)
_SUMMER = (0.7, 0.8, 1.0, 1.1, 1.2, 1.3, 1.3, 1.2, 1.0, 0.9, 0.8, 0.7)
_FESTIVE = (1.6, 1.4, 0.8, 0.8, 0.9, 0.9, 0.9, 1.0, 1.3, 1.1, 1.2, 1.3)
_SHOPPING = (1.0, 0.9, 1.0, 1.0, 1.0, 1.2, 1.0, 1.0, 1.0, 1.0, 1.5, 1.2)  # 618 in June, 双十一 in November

PRODUCTS: tuple[Product, ...] = (
    Product(1, "EL-001", "无线耳机", "Wireless Earbuds", "电子产品", "Electronics", 299.0, 30, _SHOPPING),
    Product(2, "EL-002", "智能手表", "Smart Watch", "电子产品", "Electronics", 899.0, 12, _SHOPPING),
    Product(3, "EL-003", "蓝牙音箱", "Bluetooth Speaker", "电子产品", "Electronics", 199.0, 18, _SUMMER),
    Product(4, "EL-004", "充电宝", "Power Bank", "电子产品", "Electronics", 129.0, 34, _FLAT),
    Product(5, "HM-001", "保温杯", "Insulated Bottle", "家居用品", "Home", 89.0, 28, _WINTER),
    Product(6, "AP-001", "空气炸锅", "Air Fryer", "家用电器", "Appliances", 399.0, 14, _SHOPPING),
    Product(7, "PC-001", "电动牙刷", "Electric Toothbrush", "个人护理", "Personal Care", 249.0, 20, _FLAT),
    Product(8, "FB-001", "绿茶礼盒", "Green Tea Gift Box", "食品饮料", "Food & Beverage", 158.0, 16, _FESTIVE),
    Product(9, "FB-002", "坚果礼包", "Mixed Nuts Gift Pack", "食品饮料", "Food & Beverage", 128.0, 26, _FESTIVE),
    Product(10, "SP-001", "瑜伽垫", "Yoga Mat", "运动户外", "Sports & Outdoors", 119.0, 17, _SUMMER),
    Product(11, "SP-002", "跑步鞋", "Running Shoes", "运动户外", "Sports & Outdoors", 459.0, 15, _SUMMER),
    Product(12, "BG-001", "双肩背包", "Backpack", "箱包", "Bags", 199.0, 13, _FLAT),
)

REGIONS: tuple[Region, ...] = (
    Region(1, "华东", "East China", 1.4),
    Region(2, "华北", "North China", 1.1),
    Region(3, "华南", "South China", 1.2),
    Region(4, "西南", "Southwest China", 0.8),
    Region(5, "东北", "Northeast China", 0.6),
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL, name_en TEXT NOT NULL,
    category TEXT NOT NULL, category_en TEXT NOT NULL, unit_price REAL NOT NULL);
CREATE TABLE IF NOT EXISTS regions (id INTEGER PRIMARY KEY, name TEXT NOT NULL, name_en TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sales (
    date TEXT NOT NULL, product_id INTEGER NOT NULL REFERENCES products(id),
    region_id INTEGER NOT NULL REFERENCES regions(id), units INTEGER NOT NULL, revenue REAL NOT NULL,
    PRIMARY KEY (date, product_id, region_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sales_product ON sales(product_id, date);
CREATE VIEW IF NOT EXISTS sales_detail AS
    SELECT s.date, p.name AS product, p.name_en AS product_en, p.category, p.category_en,
           r.name AS region, r.name_en AS region_en, s.units, s.revenue
    FROM sales s JOIN products p ON p.id = s.product_id JOIN regions r ON r.id = s.region_id;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

SCHEMA_SUMMARY = (
    "products(id INTEGER PRIMARY KEY, sku TEXT, name TEXT, name_en TEXT, category TEXT, category_en TEXT, "
    "unit_price REAL); regions(id INTEGER PRIMARY KEY, name TEXT, name_en TEXT); sales(date TEXT 'YYYY-MM-DD', "
    "product_id INTEGER -> products.id, region_id INTEGER -> regions.id, units INTEGER, revenue REAL); "
    "VIEW sales_detail(date, product, product_en, category, category_en, region, region_en, units, revenue); "
    "meta(key, value: version, first_date, last_date)"
)


def _uniform(*key: object) -> float:
    """A number in [0, 1) that depends only on ``key``: the same on every machine and every run."""
    digest = hashlib.blake2b("|".join(map(str, key)).encode(), digest_size=8, person=b"autoglm-sales").digest()
    return int.from_bytes(digest, "big") / 2**64


def daily_sale(day: date, product: Product, region: Region) -> tuple[int, float]:
    """Units and revenue of one product in one region on one day."""
    weekend = 1.3 if day.weekday() >= 5 else 1.0
    # A slow trend per product (some grow, some fade) so rankings change over months, not only day to day.
    trend = 1.0 + 0.25 * math.sin(day.toordinal() / 120.0 + product.id)
    week_mood = 0.75 + 0.5 * _uniform("week", product.sku, day.isocalendar()[:2])
    noise = 0.6 + 0.8 * _uniform("day", product.sku, region.id, day.isoformat())
    mean = product.popularity * region.weight * weekend * trend * week_mood * product.seasonality[day.month - 1]
    units = max(0, round(mean * noise))
    discount = 0.85 + 0.15 * _uniform("price", product.sku, region.id, day.isoformat())
    return units, round(units * product.unit_price * discount, 2)


def rows_for(day: date) -> Iterator[tuple[str, int, int, int, float]]:
    for product in PRODUCTS:
        for region in REGIONS:
            units, revenue = daily_sale(day, product, region)
            yield day.isoformat(), product.id, region.id, units, revenue


class SalesDatabase:
    """The sample database file: created on first use, extended to today whenever it falls behind."""

    def __init__(self, path: str | Path, window_days: int = WINDOW_DAYS) -> None:
        self.path = Path(path)
        self.window_days = window_days
        self._lock = threading.Lock()
        self._ready_for: date | None = None

    def ensure(self, today: date) -> Path:
        """Make sure the file exists and covers ``window_days`` days up to ``today``; return its path."""
        if self._ready_for is not None and self._ready_for >= today:
            return self.path
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite_driver.connect(self.path, timeout=30) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                self._fill(conn, today)
            conn.close()
            self._ready_for = today
        return self.path

    def _fill(self, conn: sqlite3.Connection, today: date) -> None:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("version") not in (None, VERSION):
            # Another generator version made these numbers: start over rather than mix two series.
            conn.execute("DELETE FROM sales")
            meta = {}
        want_first = today - timedelta(days=self.window_days - 1)
        first = date.fromisoformat(meta["first_date"]) if "first_date" in meta else None
        last = date.fromisoformat(meta["last_date"]) if "last_date" in meta else None
        conn.executemany("INSERT OR REPLACE INTO products VALUES (?,?,?,?,?,?,?)",
                         [(p.id, p.sku, p.name, p.name_en, p.category, p.category_en, p.unit_price)
                          for p in PRODUCTS])
        conn.executemany("INSERT OR REPLACE INTO regions VALUES (?,?,?)",
                         [(r.id, r.name, r.name_en) for r in REGIONS])
        days: list[date] = []
        if first is None or last is None:
            days = [want_first + timedelta(days=i) for i in range((today - want_first).days + 1)]
            first, last = want_first, today
        else:
            if want_first < first:
                days += [want_first + timedelta(days=i) for i in range((first - want_first).days)]
                first = want_first
            if today > last:
                days += [last + timedelta(days=i) for i in range(1, (today - last).days + 1)]
                last = today
        # INSERT OR IGNORE: two processes extending at once write the same rows, harmlessly.
        conn.executemany("INSERT OR IGNORE INTO sales VALUES (?,?,?,?,?)",
                         (row for day in days for row in rows_for(day)))
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                         [("version", VERSION), ("first_date", first.isoformat()), ("last_date", last.isoformat())])

    def coverage(self) -> tuple[date, date]:
        with sqlite_driver.connect(f"file:{self.path}?mode=ro", uri=True) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        conn.close()
        return date.fromisoformat(meta["first_date"]), date.fromisoformat(meta["last_date"])


def default_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / "sales.db"
