"""A fake Open-Meteo (geocoding + daily forecast) on loopback: the test double for ``weather.forecast``.

It answers the two endpoints the tool uses in Open-Meteo's shape — ``GET /v1/search`` (geocoding: ``results``
with name, latitude, longitude, country, timezone; no ``results`` key when nothing matches) and
``GET /v1/forecast`` (``daily`` arrays keyed by variable, ``daily_units``; ``{"error": true, "reason": ...}`` with
status 400 for bad parameters) — with deterministic weather computed from place and date::

    with FakeOpenMeteo() as fake:
        settings = Settings(http_allow=["127.0.0.1"], weather_geocoding_url=fake.geocoding_url,
                            weather_forecast_url=fake.forecast_url)

``python -m openautoglm.testing.fake_openmeteo --port 8902`` runs one for demos.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .loopback import LoopbackRequest, LoopbackService, Reply, json_reply

# name variants -> (id, canonical name in zh, in en, lat, lon, country zh, country en, country code, timezone)
_PLACES: list[tuple[tuple[str, ...], int, str, str, float, float, str, str, str, str]] = [
    (("北京", "beijing", "peking"), 1816670, "北京", "Beijing", 39.90750, 116.39723, "中国", "China", "CN",
     "Asia/Shanghai"),
    (("上海", "shanghai"), 1796236, "上海", "Shanghai", 31.22222, 121.45806, "中国", "China", "CN", "Asia/Shanghai"),
    (("杭州", "hangzhou"), 1808926, "杭州", "Hangzhou", 30.29365, 120.16142, "中国", "China", "CN", "Asia/Shanghai"),
    (("深圳", "shenzhen"), 1795565, "深圳", "Shenzhen", 22.54554, 114.06830, "中国", "China", "CN", "Asia/Shanghai"),
    (("广州", "guangzhou", "canton"), 1809858, "广州", "Guangzhou", 23.11667, 113.25000, "中国", "China", "CN",
     "Asia/Shanghai"),
    (("成都", "chengdu"), 1815286, "成都", "Chengdu", 30.66667, 104.06667, "中国", "China", "CN", "Asia/Shanghai"),
    (("哈尔滨", "harbin"), 2037013, "哈尔滨", "Harbin", 45.75000, 126.65000, "中国", "China", "CN", "Asia/Shanghai"),
    (("london", "伦敦"), 2643743, "伦敦", "London", 51.50853, -0.12574, "英国", "United Kingdom", "GB",
     "Europe/London"),
    (("new york", "纽约"), 5128581, "纽约", "New York", 40.71427, -74.00597, "美国", "United States", "US",
     "America/New_York"),
    (("tokyo", "东京"), 1850147, "东京", "Tokyo", 35.68950, 139.69171, "日本", "Japan", "JP", "Asia/Tokyo"),
    (("berlin", "柏林"), 2950159, "柏林", "Berlin", 52.52437, 13.41053, "德国", "Germany", "DE", "Europe/Berlin"),
]
_CODES = (0, 1, 2, 3, 45, 51, 61, 63, 71, 80, 95)
DAILY_UNITS = {
    "time": "iso8601", "weather_code": "wmo code", "temperature_2m_max": "°C", "temperature_2m_min": "°C",
    "precipitation_sum": "mm", "precipitation_probability_max": "%", "wind_speed_10m_max": "km/h",
}


def _find(name: str) -> list[dict[str, Any]]:
    wanted = " ".join(name.strip().lower().split())
    out = []
    for names, pid, zh, en, lat, lon, country_zh, country_en, code, tz in _PLACES:
        if wanted in names or any(n.startswith(wanted) for n in names if len(wanted) >= 3):
            out.append({"id": pid, "zh": zh, "en": en, "latitude": lat, "longitude": lon, "country_zh": country_zh,
                        "country_en": country_en, "country_code": code, "timezone": tz})
    return out


def _weather(lat: float, lon: float, day: date) -> dict[str, Any]:
    digest = hashlib.sha256(f"{lat:.3f},{lon:.3f},{day.isoformat()}".encode()).digest()
    base = 28 - abs(lat) * 0.55 + 8 * math.cos((day.timetuple().tm_yday - 200) / 58.1)
    tmax = round(base + digest[0] % 7, 1)
    tmin = round(tmax - 4 - digest[1] % 8, 1)
    code = _CODES[digest[2] % len(_CODES)]
    wet = code >= 51
    return {
        "weather_code": code, "temperature_2m_max": tmax, "temperature_2m_min": tmin,
        "precipitation_sum": round((digest[3] % 200) / 10, 1) if wet else 0.0,
        "precipitation_probability_max": 40 + digest[4] % 60 if wet else digest[4] % 30,
        "wind_speed_10m_max": round(5 + (digest[5] % 300) / 10, 1),
    }


class FakeOpenMeteo(LoopbackService):
    def __init__(self, today: date | None = None, port: int = 0) -> None:
        self._today = today
        super().__init__(port)

    @property
    def geocoding_url(self) -> str:
        return f"{self.server.url}/v1/search"

    @property
    def forecast_url(self) -> str:
        return f"{self.server.url}/v1/forecast"

    def handle(self, request: LoopbackRequest) -> Reply:
        started = time.perf_counter()
        if request.method != "GET":
            return json_reply({"error": True, "reason": "Method not allowed"}, 405)
        if request.path == "/v1/search":
            return self.search(request, started)
        if request.path == "/v1/forecast":
            return self.forecast(request, started)
        return json_reply({"error": True, "reason": "Not Found"}, 404)

    def search(self, request: LoopbackRequest, started: float) -> Reply:
        name = request.arg("name")
        if not name:
            return json_reply({"error": True, "reason": "Parameter 'name' is required"}, 400)
        count = int(request.arg("count", "10") or 10)
        zh = (request.arg("language", "en") or "en").lower().startswith("zh")
        results = [
            {"id": p["id"], "name": p["zh"] if zh else p["en"], "latitude": p["latitude"],
             "longitude": p["longitude"], "elevation": 40.0, "feature_code": "PPLA", "country_code": p["country_code"],
             "timezone": p["timezone"], "country": p["country_zh"] if zh else p["country_en"]}
            for p in _find(name)
        ][:count]
        body: dict[str, Any] = {"generationtime_ms": round((time.perf_counter() - started) * 1000, 3)}
        if results:
            body["results"] = results
        return json_reply(body)

    def forecast(self, request: LoopbackRequest, started: float) -> Reply:
        try:
            lat = float(request.arg("latitude") or "nan")
            lon = float(request.arg("longitude") or "nan")
        except ValueError:
            return json_reply({"error": True, "reason": "Latitude and longitude must be numbers"}, 400)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return json_reply({"error": True, "reason": "Parameter 'latitude' and 'longitude' are required"}, 400)
        tz_name = request.arg("timezone", "GMT") or "GMT"
        if tz_name == "auto":
            tz_name = next((p[9] for p in _PLACES if abs(p[4] - lat) < 0.5 and abs(p[5] - lon) < 0.5), "GMT")
        try:
            tz = ZoneInfo(tz_name)
        except Exception:
            return json_reply({"error": True, "reason": f"Invalid timezone '{tz_name}'"}, 400)
        today = self._today or datetime.now(tz).date()
        try:
            start = date.fromisoformat(request.arg("start_date") or today.isoformat())
            end = date.fromisoformat(request.arg("end_date") or (today + timedelta(
                days=int(request.arg("forecast_days", "7") or 7) - 1)).isoformat())
        except ValueError as exc:
            return json_reply({"error": True, "reason": f"Invalid date: {exc}"}, 400)
        lo, hi = today - timedelta(days=92), today + timedelta(days=15)
        if not (lo <= start <= end <= hi):
            return json_reply({"error": True, "reason": f"Parameter 'start_date' is out of allowed range from "
                                                        f"{lo.isoformat()} to {hi.isoformat()}"}, 400)
        variables = [v for v in (request.arg("daily") or "").split(",") if v]
        unknown = [v for v in variables if v not in DAILY_UNITS]
        if unknown:
            return json_reply({"error": True, "reason": f"Cannot initialize WeatherVariable from invalid String "
                                                        f"value {unknown[0]}"}, 400)
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        weather = [_weather(lat, lon, d) for d in days]
        daily: dict[str, list[Any]] = {"time": [d.isoformat() for d in days]}
        for v in variables:
            if v != "time":
                daily[v] = [w[v] for w in weather]
        offset = datetime.now(tz).utcoffset() or timedelta(0)
        return json_reply({
            "latitude": lat, "longitude": lon,
            "generationtime_ms": round((time.perf_counter() - started) * 1000, 3),
            "utc_offset_seconds": int(offset.total_seconds()), "timezone": tz_name,
            "timezone_abbreviation": datetime.now(tz).tzname(), "elevation": 40.0,
            "daily_units": {"time": "iso8601", **{v: DAILY_UNITS[v] for v in variables}},
            "daily": daily,
        })


def main() -> None:  # pragma: no cover - a demo entry point
    parser = argparse.ArgumentParser(description="Run a fake Open-Meteo on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with FakeOpenMeteo(port=args.port) as fake:
        print(f"fake Open-Meteo at {fake.url} (geocoding {fake.geocoding_url}, forecast {fake.forecast_url})")
        fake.serve_until_interrupted()


if __name__ == "__main__":  # pragma: no cover
    main()
