"""``measure.convert``: a quantity from one unit to another: length, mass, temperature, volume, speed, area, and
currency only at the rates the ``currency_rates`` setting gives (none are built in, none are ever guessed).

Output shape (for planners)::

    measure.convert(value=10, from_unit="英里", to_unit="km")
    -> {"value": 10, "from_unit": "mi", "to_unit": "km", "result": 16.09344, "dimension": "length",
        "from_name": "mile", "to_name": "kilometre", "from_name_zh": "英里", "to_name_zh": "公里"}

Unit names are read in English or Chinese, as words or symbols (英里, miles, mi; 摄氏度, °C, Celsius; km/h, 公里每小时).
:func:`find_units` finds them in a sentence, for the planner's argument fill.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..errors import ToolArgumentError
from .base import FunctionTool, Tool


@dataclass(frozen=True)
class Unit:
    symbol: str
    dimension: str
    factor: float  # how many of the dimension's base unit one of this is (m, kg, L, m/s, m²; currency: rate)
    name: str
    name_zh: str
    aliases: tuple[str, ...] = ()


_MI, _FT, _IN, _YD, _LB, _OZ, _GAL = 1609.344, 0.3048, 0.0254, 0.9144, 0.45359237, 0.028349523125, 3.785411784
UNITS: tuple[Unit, ...] = (
    # length, in metres
    Unit("m", "length", 1.0, "metre", "米", ("meter", "meters", "metre", "metres", "米", "公尺")),
    Unit("km", "length", 1000.0, "kilometre", "公里",
         ("kilometer", "kilometers", "kilometre", "kilometres", "km", "kms", "公里", "千米")),
    Unit("cm", "length", 0.01, "centimetre", "厘米",
         ("centimeter", "centimeters", "centimetre", "centimetres", "cm", "厘米", "公分")),
    Unit("mm", "length", 0.001, "millimetre", "毫米", ("millimeter", "millimeters", "millimetre", "millimetres", "mm",
                                                      "毫米")),
    Unit("mi", "length", _MI, "mile", "英里", ("mile", "miles", "mi", "英里")),
    Unit("ft", "length", _FT, "foot", "英尺", ("foot", "feet", "ft", "英尺", "呎")),
    Unit("in", "length", _IN, "inch", "英寸", ("inch", "inches", "英寸", "吋")),
    Unit("yd", "length", _YD, "yard", "码", ("yard", "yards", "yd", "码")),
    Unit("nmi", "length", 1852.0, "nautical mile", "海里", ("nautical mile", "nautical miles", "nmi", "海里")),
    # mass, in kilograms
    Unit("kg", "mass", 1.0, "kilogram", "公斤",
         ("kilogram", "kilograms", "kilo", "kilos", "kg", "kgs", "公斤", "千克")),
    Unit("g", "mass", 0.001, "gram", "克", ("gram", "grams", "gramme", "g", "克")),
    Unit("mg", "mass", 1e-6, "milligram", "毫克", ("milligram", "milligrams", "mg", "毫克")),
    Unit("t", "mass", 1000.0, "tonne", "吨", ("tonne", "tonnes", "metric ton", "metric tons", "ton", "tons", "吨")),
    Unit("lb", "mass", _LB, "pound", "磅", ("pound", "pounds", "lb", "lbs", "磅")),
    Unit("oz", "mass", _OZ, "ounce", "盎司", ("ounce", "ounces", "oz", "盎司", "安士")),
    Unit("jin", "mass", 0.5, "jin", "斤", ("jin", "斤", "市斤")),
    # temperature: converted by formula, factor unused
    Unit("°C", "temperature", 1.0, "degrees Celsius", "摄氏度",
         ("celsius", "centigrade", "degrees celsius", "degree celsius", "°c", "℃", "摄氏度", "摄氏")),
    Unit("°F", "temperature", 1.0, "degrees Fahrenheit", "华氏度",
         ("fahrenheit", "degrees fahrenheit", "degree fahrenheit", "°f", "℉", "华氏度", "华氏")),
    Unit("K", "temperature", 1.0, "kelvin", "开尔文", ("kelvin", "kelvins", "开尔文", "开氏度")),
    # volume, in litres
    Unit("L", "volume", 1.0, "litre", "升", ("liter", "liters", "litre", "litres", "l", "升", "公升")),
    Unit("mL", "volume", 0.001, "millilitre", "毫升", ("milliliter", "milliliters", "millilitre", "millilitres", "ml",
                                                      "毫升")),
    Unit("gal", "volume", _GAL, "US gallon", "加仑", ("gallon", "gallons", "gal", "加仑")),
    Unit("qt", "volume", _GAL / 4, "US quart", "夸脱", ("quart", "quarts", "qt", "夸脱")),
    Unit("pt", "volume", _GAL / 8, "US pint", "品脱", ("pint", "pints", "品脱")),
    Unit("cup", "volume", _GAL / 16, "US cup", "杯", ("cup", "cups")),
    Unit("fl oz", "volume", _GAL / 128, "US fluid ounce", "液量盎司",
         ("fluid ounce", "fluid ounces", "fl oz", "液量盎司")),
    Unit("m³", "volume", 1000.0, "cubic metre", "立方米", ("cubic meter", "cubic meters", "cubic metre", "cubic metres",
                                                        "m³", "m3", "立方米")),
    # speed, in metres per second
    Unit("m/s", "speed", 1.0, "metres per second", "米每秒", ("meters per second", "metres per second", "m/s",
                                                           "米每秒", "米/秒")),
    Unit("km/h", "speed", 1000 / 3600, "kilometres per hour", "公里每小时",
         ("kilometers per hour", "kilometres per hour", "km/h", "kmh", "kph", "公里每小时", "千米每小时", "公里/小时",
          "千米/小时", "千米/时", "公里/时")),
    Unit("mph", "speed", _MI / 3600, "miles per hour", "英里每小时",
         ("miles per hour", "mph", "英里每小时", "英里/小时", "迈")),
    Unit("kn", "speed", 1852 / 3600, "knot", "节", ("knot", "knots", "kn")),
    # area, in square metres
    Unit("m²", "area", 1.0, "square metre", "平方米", ("square meter", "square meters", "square metre", "square metres",
                                                    "sq m", "m²", "m2", "sqm", "平方米", "平米")),
    Unit("km²", "area", 1e6, "square kilometre", "平方公里", ("square kilometer", "square kilometers",
                                                          "square kilometre", "square kilometres", "sq km", "km²",
                                                          "km2", "平方公里", "平方千米")),
    Unit("cm²", "area", 1e-4, "square centimetre", "平方厘米", ("square centimeter", "square centimeters",
                                                            "square centimetre", "square centimetres", "cm²", "cm2",
                                                            "平方厘米")),
    Unit("ha", "area", 10_000.0, "hectare", "公顷", ("hectare", "hectares", "ha", "公顷")),
    Unit("acre", "area", 4046.8564224, "acre", "英亩", ("acre", "acres", "英亩")),
    Unit("mu", "area", 10_000 / 15, "mu", "亩", ("mu", "亩", "市亩")),
    Unit("ft²", "area", _FT**2, "square foot", "平方英尺", ("square foot", "square feet", "sq ft", "sqft", "ft²",
                                                         "平方英尺")),
    Unit("mi²", "area", _MI**2, "square mile", "平方英里", ("square mile", "square miles", "sq mi", "mi²", "平方英里")),
)

# Currencies are units too, but their factors are the configured rates. Names people use for the common ones:
CURRENCY_NAMES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "CNY": ("Chinese yuan", "人民币", ("cny", "rmb", "yuan", "renminbi", "人民币", "元", "块钱")),
    "USD": ("US dollar", "美元", ("usd", "us dollar", "us dollars", "dollar", "dollars", "美元", "美金", "$")),
    "EUR": ("euro", "欧元", ("eur", "euro", "euros", "欧元", "€")),
    "JPY": ("Japanese yen", "日元", ("jpy", "yen", "日元", "日币")),
    "GBP": ("British pound", "英镑", ("gbp", "pound sterling", "pounds sterling", "british pound", "british pounds",
                                    "英镑", "£")),
    "HKD": ("Hong Kong dollar", "港币", ("hkd", "hong kong dollar", "hong kong dollars", "港币", "港元")),
    "KRW": ("South Korean won", "韩元", ("krw", "won", "韩元")),
}


def _key(text: str) -> str:
    return " ".join(text.strip().lower().split())


def currency_units(rates: Mapping[str, float]) -> tuple[Unit, ...]:
    out = []
    for code, rate in rates.items():
        name, name_zh, aliases = CURRENCY_NAMES.get(code.upper(), (code.upper(), code.upper(), ()))
        out.append(Unit(code.upper(), "currency", float(rate), name, name_zh, (code.lower(), *aliases)))
    return tuple(out)


@cache
def _alias_index(currencies: tuple[Unit, ...] = ()) -> dict[str, Unit]:
    index: dict[str, Unit] = {}
    for unit in (*UNITS, *currencies):
        for alias in (unit.symbol, *unit.aliases):
            index.setdefault(_key(alias), unit)
    return index


def lookup(name: str, currencies: tuple[Unit, ...] = ()) -> Unit | None:
    return _alias_index(currencies).get(_key(name))


def _all_aliases() -> list[tuple[str, str]]:
    """(alias, symbol) for the physical units and every named currency, longest first."""
    pairs = [(a, u.symbol) for u in UNITS for a in (u.symbol, *u.aliases)]
    pairs += [(a, code) for code, (_, _, aliases) in CURRENCY_NAMES.items() for a in (code.lower(), *aliases)]
    return sorted(set(pairs), key=lambda p: -len(p[0]))


_CJK = re.compile(r"[\u4e00-\u9fff]")


@cache
def _finder() -> re.Pattern[str]:
    parts = []
    for alias, _ in _all_aliases():
        escaped = re.escape(alias)
        if _CJK.search(alias) or not alias[0].isalpha():
            parts.append(escaped)
        elif len(alias) <= 2:
            # "m", "g", "kg": a short symbol counts only right after a number ("5 kg"), never inside words
            # or as the unit asked for ("6 feet in cm", "to kg")
            parts.append(rf"(?:(?<=\d)|(?<=\d\s)|(?<=\bto\s)|(?<=\bin\s)|(?<=\binto\s)){escaped}(?![A-Za-z/])")
        else:
            parts.append(rf"(?<![A-Za-z]){escaped}(?![A-Za-z])")
    return re.compile("|".join(parts), re.I)


@dataclass(frozen=True)
class UnitMention:
    start: int
    end: int
    text: str
    symbol: str
    after_number: bool  # written right after a number: the unit of the quantity given


_TEMPERATURES = frozenset(u.symbol for u in UNITS if u.dimension == "temperature")


def find_units(text: str) -> list[UnitMention]:
    """Unit names in a sentence, left to right (longest name wins: 平方公里 is not 公里)."""
    symbols = {_key(a): s for a, s in _all_aliases()}
    out = []
    for m in _finder().finditer(text):
        name = m.group(0).strip()
        symbol = symbols.get(_key(name))
        if symbol is None:
            continue
        start = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
        after_number = bool(re.search(r"[\d零一二两三四五六七八九十百千万]\s*$", text[:start]))
        out.append(UnitMention(start, m.end(), name, symbol, after_number))
    if any(m.symbol in _TEMPERATURES for m in out):
        # A temperature said in everyday Chinese ("零下十度是多少华氏度") gives degrees Celsius as a bare 度.
        taken = {m.start for m in out}
        for bare in re.finditer(r"(?<=[\d零一二两三四五六七八九十百])\s*(度)(?![电数])", text):
            if bare.start(1) not in taken:
                out.append(UnitMention(bare.start(1), bare.end(1), "度", "°C", True))
        out.sort(key=lambda m: m.start)
    return out


def _celsius(value: float, unit: str) -> float:
    return {"°C": value, "°F": (value - 32) * 5 / 9, "K": value - 273.15}[unit]


def _from_celsius(value: float, unit: str) -> float:
    return {"°C": value, "°F": value * 9 / 5 + 32, "K": value + 273.15}[unit]


def readable(value: float) -> str:
    """A converted figure as people write it: 16.09, 86, 0.0006214, 1,234.5."""
    if value == 0:
        return "0"
    if abs(value) >= 1:
        text = f"{value:,.2f}"
    else:
        text = f"{value:.4g}"
        if "e" in text:
            return text
    return text.rstrip("0").rstrip(".") if "." in text else text


class UnitsTool(FunctionTool):
    def __init__(self, currency_rates: Mapping[str, float] | None = None) -> None:
        self.currencies = currency_units(currency_rates or {})
        super().__init__(self.convert, name="measure.convert", source="builtin", timeout_s=5.0)
        self.returns = {"type": "object", "properties": {
            "value": {"type": "number"}, "from_unit": {"type": "string"}, "to_unit": {"type": "string"},
            "result": {"type": "number"}, "dimension": {"type": "string"}, "from_name": {"type": "string"},
            "to_name": {"type": "string"}, "from_name_zh": {"type": "string"}, "to_name_zh": {"type": "string"}}}

    def convert(self, value: float, from_unit: str, to_unit: str) -> dict[str, Any]:
        """Convert a measurement between units: length, weight, Celsius and Fahrenheit, volume, speed, area; and
        currencies at configured exchange rates (单位换算: 公里 英里 米 英尺, 公斤 磅 斤, 摄氏度 华氏度, 升 加仑,
        平方米 亩 公顷; km, miles, feet, inches, kg, pounds, ounces, liters, gallons, mph, acres, hectares).

        Args:
            value: the quantity to convert, e.g. 10
            from_unit: the unit it is in: km, 英里, miles, 公斤, lb, 摄氏度, °F, 升, gallons, km/h, 平方米, 亩, USD ...
            to_unit: the unit wanted
        """
        name = "measure.convert"
        source, target = lookup(from_unit, self.currencies), lookup(to_unit, self.currencies)
        for given, unit in ((from_unit, source), (to_unit, target)):
            if unit is not None:
                continue
            if _key(given).upper() in CURRENCY_NAMES or any(_key(given) in aliases
                                                            for _, _, aliases in CURRENCY_NAMES.values()):
                raise ToolArgumentError(
                    f"{name}: no exchange rate for {given!r}: currency conversion uses only the rates set in "
                    "currency_rates (autoglm.yaml, e.g. currency_rates: {CNY: 1, USD: 7.1}); none are built in")
            raise ToolArgumentError(f"{name}: unknown unit {given!r}; use a unit of length, mass, temperature, "
                                    "volume, speed or area such as km, 英里, kg, 磅, °C, 升, km/h, 平方米, 亩")
        assert source is not None and target is not None
        if source.dimension != target.dimension:
            raise ToolArgumentError(f"{name}: cannot convert {source.dimension} ({from_unit}) to {target.dimension} "
                                    f"({to_unit})")
        if source.dimension == "temperature":
            result = _from_celsius(_celsius(value, source.symbol), target.symbol)
        else:
            result = value * source.factor / target.factor
        return {"value": value, "from_unit": source.symbol, "to_unit": target.symbol, "result": result,
                "dimension": source.dimension, "from_name": source.name, "to_name": target.name,
                "from_name_zh": source.name_zh, "to_name_zh": target.name_zh}

    def summarize(self, output: Any) -> str:
        if isinstance(output, dict) and "result" in output and "to_unit" in output:
            value, result = readable(output["value"]), readable(output["result"])
            return f"{value} {output['from_unit']} = {result} {output['to_unit']}"
        return super().summarize(output)

    def answer(self, output: Any, lang: str) -> str | None:
        if not (isinstance(output, dict) and "result" in output and "to_unit" in output):
            return None
        value, result = readable(output["value"]), readable(output["result"])
        if lang == "zh":
            return f"{value} {output['from_name_zh']} = {result} {output['to_name_zh']}。"
        plural = "" if output["to_name"].endswith(("s", "Celsius", "Fahrenheit")) or output["result"] == 1 else "s"
        from_plural = "" if output["from_name"].endswith(("s", "Celsius", "Fahrenheit")) or output["value"] == 1 \
            else "s"
        return (f"{value} {_plural(output['from_name'], from_plural)} = {result} "
                f"{_plural(output['to_name'], plural)}.")


def _plural(name: str, suffix: str) -> str:
    if not suffix or name.endswith(("yuan", "yen", "won", "mu", "jin")):
        return name
    if name.endswith("foot"):
        return name[:-4] + "feet"
    if name.endswith("inch"):
        return name + "es"
    if " per " in name:
        return name
    return name + suffix


def units_tools(currency_rates: Mapping[str, float] | None = None) -> list[Tool]:
    return [UnitsTool(currency_rates)]
