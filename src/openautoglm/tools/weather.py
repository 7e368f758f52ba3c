"""``weather.forecast(city, date)``: daily forecast from an Open-Meteo-compatible API (geocoding, then forecast).

The base URLs are settings (``weather_geocoding_url``, ``weather_forecast_url``), so a self-hosted Open-Meteo or
the fake in :mod:`openautoglm.testing.fake_openmeteo` can stand in. Requests go through the network guard like
every outbound tool. ``date`` is read by :mod:`openautoglm.timeparse` in the city's own time zone: ``2026-11-23``,
``today``/``tomorrow``, ``今天``/``明天``/``后天``, or a range such as ``本周`` (at most 16 days, the forecast horizon).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ToolArgumentError, ToolError, UnsafeTargetError
from ..events import EventKind
from ..timeparse import resolve_period
from .base import Tool, ToolContext
from .netguard import NetGuard

FORECAST_DAYS = 16
PAST_DAYS = 92
DAILY = ("weather_code", "temperature_2m_max", "temperature_2m_min", "precipitation_sum",
         "precipitation_probability_max", "wind_speed_10m_max")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# WMO weather interpretation codes, as Open-Meteo documents them: (English, Chinese).
WMO_CODES: dict[int, tuple[str, str]] = {
    0: ("clear sky", "晴"), 1: ("mainly clear", "晴间少云"), 2: ("partly cloudy", "多云"), 3: ("overcast", "阴"),
    45: ("fog", "雾"), 48: ("depositing rime fog", "雾凇"),
    51: ("light drizzle", "小毛毛雨"), 53: ("drizzle", "毛毛雨"), 55: ("dense drizzle", "大毛毛雨"),
    56: ("light freezing drizzle", "小冻毛毛雨"), 57: ("dense freezing drizzle", "冻毛毛雨"),
    61: ("slight rain", "小雨"), 63: ("moderate rain", "中雨"), 65: ("heavy rain", "大雨"),
    66: ("light freezing rain", "小冻雨"), 67: ("heavy freezing rain", "冻雨"),
    71: ("slight snow", "小雪"), 73: ("moderate snow", "中雪"), 75: ("heavy snow", "大雪"), 77: ("snow grains", "米雪"),
    80: ("slight rain showers", "小阵雨"), 81: ("rain showers", "阵雨"), 82: ("violent rain showers", "强阵雨"),
    85: ("slight snow showers", "小阵雪"), 86: ("heavy snow showers", "大阵雪"),
    95: ("thunderstorm", "雷阵雨"), 96: ("thunderstorm with slight hail", "雷阵雨伴有小冰雹"),
    99: ("thunderstorm with heavy hail", "雷阵雨伴有大冰雹"),
}


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text or ""))


class WeatherTool(Tool):
    name = "weather.forecast"
    description = ("Daily weather forecast for a city: conditions, high/low temperature, chance of precipitation "
                   "and wind, for a date or a range of up to 16 days (天气预报).")
    source = "builtin"
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 1, "maxLength": 100,
                     "description": "city name in Chinese or English, e.g. 北京 or Beijing"},
            "date": {"type": "string", "minLength": 1, "maxLength": 60, "default": "today",
                     "description": "YYYY-MM-DD, today/tomorrow, 今天/明天/后天, or a range such as 本周"},
        },
        "required": ["city"],
        "additionalProperties": False,
    }
    returns = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "city": {"type": "string"}, "place": {"type": "string"}, "date": {"type": "string"},
            "date_label": {"type": "string"}, "timezone": {"type": "string"}, "summary": {"type": "string"},
            "forecast": {"type": "array", "items": {"type": "object"}},
        },
    }

    def __init__(self, guard: NetGuard, geocoding_url: str, forecast_url: str,
                 clock: Callable[[ZoneInfo], datetime] | None = None, timeout_s: float | None = None) -> None:
        self.guard = guard
        self.geocoding_url = geocoding_url
        self.forecast_url = forecast_url
        self.clock = clock or (lambda tz: datetime.now(tz))
        self.timeout_s = timeout_s

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        city = " ".join(str(args["city"]).split())
        when = str(args.get("date") or "today").strip()
        place = await self.geocode(city, ctx)
        try:
            tz = ZoneInfo(place.get("timezone") or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            tz = ZoneInfo("UTC")
        today = self.clock(tz).date()
        period = resolve_period(when, self.clock(tz))  # DateParseError is a ToolArgumentError with a clear message
        if period.end > today + timedelta(days=FORECAST_DAYS - 1):
            raise ToolArgumentError(f"weather.forecast: {when} ({period.end.isoformat()}) is beyond the "
                                    f"{FORECAST_DAYS}-day forecast horizon (today is {today.isoformat()})")
        if period.start < today - timedelta(days=PAST_DAYS):
            raise ToolArgumentError(f"weather.forecast: {when} is more than {PAST_DAYS} days ago; "
                                    "no past weather that far back")
        daily = await self.daily(place, period.start, period.end, ctx)
        days = [_day(daily, i) for i in range(len(daily.get("time") or []))]
        if not days:
            raise ToolError(f"weather.forecast: the forecast service returned no days for {city}")
        output: dict[str, Any] = {
            "city": city,
            "place": ", ".join(str(x) for x in (place.get("name"), place.get("country")) if x),
            "latitude": place.get("latitude"),
            "longitude": place.get("longitude"),
            "timezone": str(tz),
            "date": period.start.isoformat() if period.days == 1 else f"{period.start}..{period.end}",
            "date_label": _label(period.label, period.start, today, is_chinese(city)),
            "forecast": days,
            "source": "open-meteo",
        }
        output["summary"] = self.summarize(output)
        return output

    async def _get_json(self, url: str, params: dict[str, Any], what: str, ctx: ToolContext) -> dict[str, Any]:
        try:
            response = await self.guard.get(url, params=params, ctx=ctx, tool=self.name, timeout_s=self.timeout_s)
        except ToolError as exc:
            if isinstance(exc, ToolArgumentError | UnsafeTargetError):
                raise
            raise ToolError(f"weather.forecast: the {what} service is unreachable ({exc}); set "
                            f"weather_{what}_url to a reachable Open-Meteo-compatible server") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            reason = body.get("reason") if isinstance(body, dict) else " ".join(response.text.split())[:200]
            raise ToolError(f"weather.forecast: the {what} service answered HTTP {response.status_code}: {reason}")
        return body

    async def geocode(self, city: str, ctx: ToolContext) -> dict[str, Any]:
        params = {"name": city, "count": 1, "language": "zh" if is_chinese(city) else "en", "format": "json"}
        body = await self._get_json(self.geocoding_url, params, "geocoding", ctx)
        results = body.get("results") or []
        if not results:
            raise ToolArgumentError(f"weather.forecast: no place called {city!r} was found; check the spelling or "
                                    "name a larger city nearby")
        place = dict(results[0])
        ctx.emit(EventKind.TOOL_RESULT, tool=self.name, geocoded=city, place=place.get("name"),
                 latitude=place.get("latitude"), longitude=place.get("longitude"))
        return place

    async def daily(self, place: dict[str, Any], start: date, end: date, ctx: ToolContext) -> dict[str, Any]:
        params = {"latitude": place["latitude"], "longitude": place["longitude"], "daily": ",".join(DAILY),
                  "timezone": place.get("timezone") or "auto", "start_date": start.isoformat(),
                  "end_date": end.isoformat()}
        body = await self._get_json(self.forecast_url, params, "forecast", ctx)
        daily = body.get("daily")
        if not isinstance(daily, dict):
            raise ToolError("weather.forecast: the forecast service's answer has no `daily` section")
        return daily

    def answer(self, output: Any, lang: str) -> str | None:
        if not isinstance(output, dict) or not output.get("forecast"):
            return None
        zh = lang == "zh"
        # The label ("明天", "tomorrow") was worded in the city's language; another reply language gets the date.
        label = output.get("date_label") if len(output["forecast"]) == 1 and zh == is_chinese(
            str(output.get("date_label", ""))) else None
        city = str(output["city"]) if zh else str(output.get("place") or output["city"])
        return " ".join(_sentence_zh(city, day, label) if zh else _sentence_en(city, day, label)
                        for day in output["forecast"])

    def summarize(self, output: Any) -> str:
        if not isinstance(output, dict) or not output.get("forecast"):
            return super().summarize(output)
        zh = is_chinese(str(output.get("city", "")))
        lines = []
        for i, day in enumerate(output["forecast"]):
            label = output.get("date_label") if i == 0 and len(output["forecast"]) == 1 else None
            lines.append(_sentence_zh(output["city"], day, label) if zh else
                         _sentence_en(output.get("place") or output["city"], day, label))
        return "\n".join(lines)


def _value(daily: dict[str, Any], key: str, i: int) -> Any:
    values = daily.get(key) or []
    return values[i] if i < len(values) else None


def _day(daily: dict[str, Any], i: int) -> dict[str, Any]:
    code = _value(daily, "weather_code", i)
    en, zh = WMO_CODES.get(int(code), ("unknown", "未知")) if code is not None else ("unknown", "未知")
    return {
        "date": _value(daily, "time", i),
        "weather_code": code,
        "condition": en,
        "condition_zh": zh,
        "temperature_max_c": _value(daily, "temperature_2m_max", i),
        "temperature_min_c": _value(daily, "temperature_2m_min", i),
        "precipitation_probability": _value(daily, "precipitation_probability_max", i),
        "precipitation_mm": _value(daily, "precipitation_sum", i),
        "wind_speed_max_kmh": _value(daily, "wind_speed_10m_max", i),
    }


def _label(label: str, start: date, today: date, zh: bool) -> str:
    offset = (start - today).days
    words = {0: ("今天", "today"), 1: ("明天", "tomorrow"), 2: ("后天", "the day after tomorrow")}
    if offset in words and label.strip().lower() in {start.isoformat(), *words[offset]}:
        return words[offset][0 if zh else 1]
    return label


def _num(x: Any) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _sentence_zh(city: str, day: dict[str, Any], label: str | None) -> str:
    when = f"{label}（{day['date']}）" if label and label != day["date"] else f" {day['date']}"
    parts = [day["condition_zh"]]
    if day["temperature_min_c"] is not None and day["temperature_max_c"] is not None:
        parts.append(f"气温 {_num(day['temperature_min_c'])}~{_num(day['temperature_max_c'])}°C")
    if day["precipitation_probability"] is not None:
        parts.append(f"降水概率 {_num(day['precipitation_probability'])}%")
    if day["wind_speed_max_kmh"] is not None:
        parts.append(f"最大风速 {_num(day['wind_speed_max_kmh'])} km/h")
    return f"{city}{when}：{'，'.join(parts)}。"


def _sentence_en(place: str, day: dict[str, Any], label: str | None) -> str:
    when = f"{label} ({day['date']})" if label and label != day["date"] else f"on {day['date']}"
    parts = [day["condition"]]
    if day["temperature_min_c"] is not None and day["temperature_max_c"] is not None:
        parts.append(f"{_num(day['temperature_min_c'])} to {_num(day['temperature_max_c'])}°C")
    if day["precipitation_probability"] is not None:
        parts.append(f"{_num(day['precipitation_probability'])}% chance of precipitation")
    if day["wind_speed_max_kmh"] is not None:
        parts.append(f"wind up to {_num(day['wind_speed_max_kmh'])} km/h")
    return f"{place}, {when}: {', '.join(parts)}."
