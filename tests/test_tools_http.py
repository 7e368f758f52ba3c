"""web.fetch and weather.forecast against real HTTP servers on loopback (allow-listed explicitly)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from openautoglm import AutoGLM
from openautoglm.config import Settings
from openautoglm.errors import ToolArgumentError, ToolError
from openautoglm.events import EventKind
from openautoglm.models.scripted import ScriptedModel
from openautoglm.testing.fake_openmeteo import FakeOpenMeteo
from openautoglm.testing.loopback import LoopbackRequest, LoopbackServer
from openautoglm.tools.netguard import NetGuard
from openautoglm.tools.weather import WeatherTool, is_chinese
from openautoglm.tools.web import WebFetchTool, html_to_text
from tools_net_support import Recorder

PAGE = """<!doctype html><html><head><title>Open-AutoGLM  docs</title><style>body{color:red}</style>
<script>var secret = "do not show";</script></head>
<body><nav>Home | Docs</nav><h1>Plans</h1><p>A plan is a <b>DAG</b> of steps &amp; tools.</p>
<ul><li>parallel</li><li>traced</li></ul><noscript>enable js</noscript><p>中文段落：天气很好。</p></body></html>"""


@pytest.fixture
def site() -> Iterator[LoopbackServer]:
    def handler(request: LoopbackRequest) -> tuple[int, dict[str, str], bytes | str]:
        if request.path == "/page":
            return 200, {"content-type": "text/html; charset=utf-8"}, PAGE
        if request.path == "/gbk":
            return 200, {"content-type": "text/plain; charset=gbk"}, "你好，世界".encode("gbk")
        if request.path == "/big":
            return 200, {"content-type": "text/plain"}, "y" * 300_000
        if request.path == "/image":
            return 200, {"content-type": "image/png"}, b"\x89PNG\r\n\x1a\n"
        if request.path == "/moved":
            return 301, {"location": "/page"}, ""
        return 404, {"content-type": "text/plain"}, "not here"

    with LoopbackServer(handler) as server:
        yield server


def test_html_to_text_keeps_content_and_drops_code() -> None:
    title, text = html_to_text(PAGE)
    assert title == "Open-AutoGLM docs"
    assert "A plan is a DAG of steps & tools." in text
    assert "parallel\ntraced" in text and "中文段落：天气很好。" in text
    assert "secret" not in text and "color:red" not in text and "enable js" not in text


async def test_web_fetch_returns_page_text(site: LoopbackServer) -> None:
    tool = WebFetchTool(NetGuard(["127.0.0.1"]))
    out = await tool({"url": f"{site.url}/moved"}, Recorder().ctx)
    assert out["url"].endswith("/page") and out["status"] == 200 and out["title"] == "Open-AutoGLM docs"
    assert "A plan is a DAG" in out["text"] and not out["truncated"]
    assert tool.summarize(out).startswith("Open-AutoGLM docs\n")


async def test_web_fetch_decodes_declared_charset(site: LoopbackServer) -> None:
    out = await WebFetchTool(NetGuard(["127.0.0.1"]))({"url": f"{site.url}/gbk"}, Recorder().ctx)
    assert out["text"] == "你好，世界"


async def test_web_fetch_limits(site: LoopbackServer) -> None:
    tool = WebFetchTool(NetGuard(["127.0.0.1"], max_bytes=100_000), max_chars=1000)
    out = await tool({"url": f"{site.url}/big"}, Recorder().ctx)
    assert len(out["text"]) == 1000 and out["truncated"]
    with pytest.raises(ToolError, match="image/png, not a text page"):
        await tool({"url": f"{site.url}/image"}, Recorder().ctx)
    with pytest.raises(ToolError, match="HTTP 404"):
        await tool({"url": f"{site.url}/missing"}, Recorder().ctx)


# -- weather ------------------------------------------------------------------------------------------------------


@pytest.fixture
def meteo() -> Iterator[FakeOpenMeteo]:
    with FakeOpenMeteo() as fake:
        yield fake


def weather_tool(fake: FakeOpenMeteo, now: datetime | None = None) -> WeatherTool:
    clock = (lambda tz: now.astimezone(tz)) if now else None
    return WeatherTool(NetGuard(["127.0.0.1"]), fake.geocoding_url, fake.forecast_url, clock=clock)


def shanghai_today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


@pytest.mark.parametrize("when", ["明天", "tomorrow", "TOMORROW", "__iso__"])
async def test_weather_tomorrow_in_any_spelling(meteo: FakeOpenMeteo, when: str) -> None:
    tomorrow = shanghai_today() + timedelta(days=1)
    when = tomorrow.isoformat() if when == "__iso__" else when
    out = await weather_tool(meteo)({"city": "北京", "date": when}, Recorder().ctx)
    assert out["date"] == tomorrow.isoformat() and out["timezone"] == "Asia/Shanghai"
    assert out["place"] == "北京, 中国" and len(out["forecast"]) == 1
    day = out["forecast"][0]
    assert day["temperature_min_c"] <= day["temperature_max_c"]
    assert out["date_label"] == "明天"
    assert out["summary"].startswith(f"北京明天（{tomorrow.isoformat()}）：{day['condition_zh']}，气温 ")
    forecast_call = [r for r in meteo.requests if r.path == "/v1/forecast"][-1]
    assert forecast_call.arg("start_date") == forecast_call.arg("end_date") == tomorrow.isoformat()


async def test_weather_english_summary_and_language(meteo: FakeOpenMeteo) -> None:
    out = await weather_tool(meteo)({"city": "London", "date": "today"}, Recorder().ctx)
    day = out["forecast"][0]
    london_today = datetime.now(ZoneInfo("Europe/London")).date().isoformat()
    assert out["summary"] == (
        f"London, United Kingdom, today ({london_today}): {day['condition']}, "
        f"{_n(day['temperature_min_c'])} to {_n(day['temperature_max_c'])}°C, "
        f"{_n(day['precipitation_probability'])}% chance of precipitation, wind up to "
        f"{_n(day['wind_speed_max_kmh'])} km/h.")
    geocode = [r for r in meteo.requests if r.path == "/v1/search"][-1]
    assert geocode.arg("language") == "en" and geocode.arg("name") == "London"


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


async def test_weather_range_and_default_date(meteo: FakeOpenMeteo) -> None:
    now = datetime(2026, 11, 18, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Wednesday
    fake = FakeOpenMeteo(today=now.date())
    with fake:
        tool = weather_tool(fake, now)
        week = await tool({"city": "上海", "date": "本周"}, Recorder().ctx)
        assert [d["date"] for d in week["forecast"]] == [f"2026-11-{d}" for d in range(16, 23)]
        assert len(tool.summarize(week).splitlines()) == 7
        today = await tool({"city": "上海"}, Recorder().ctx)
        assert today["date"] == "2026-11-18" and today["date_label"] == "今天"
        with pytest.raises(ToolArgumentError, match="16-day forecast horizon"):
            await tool({"city": "上海", "date": "2027-01-30"}, Recorder().ctx)
        with pytest.raises(ToolArgumentError):
            await tool({"city": "上海", "date": "purple elephants"}, Recorder().ctx)


async def test_weather_unknown_city_is_a_clear_error(meteo: FakeOpenMeteo) -> None:
    with pytest.raises(ToolArgumentError, match="no place called 'Atlantisville'"):
        await weather_tool(meteo)({"city": "Atlantisville"}, Recorder().ctx)


async def test_weather_offline_fails_clearly() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: like a machine without the service
    tool = WeatherTool(NetGuard(["127.0.0.1"]), f"http://127.0.0.1:{port}/v1/search",
                       f"http://127.0.0.1:{port}/v1/forecast")
    with pytest.raises(ToolError, match=r"geocoding service is unreachable.*weather_geocoding_url"):
        await tool({"city": "北京", "date": "明天"}, Recorder().ctx)

    async def no_dns(host: str, port: int) -> list[str]:
        raise OSError(-3, "Temporary failure in name resolution")

    offline = WeatherTool(NetGuard(resolver=no_dns), "https://geocoding-api.open-meteo.com/v1/search",
                          "https://api.open-meteo.com/v1/forecast")
    with pytest.raises(ToolError, match="DNS lookup failed"):
        await offline({"city": "北京"}, Recorder().ctx)


async def test_weather_service_errors_are_reported(meteo: FakeOpenMeteo) -> None:
    tool = WeatherTool(NetGuard(["127.0.0.1"]), meteo.geocoding_url, meteo.url + "/v1/nowhere")
    with pytest.raises(ToolError, match="forecast service answered HTTP 404"):
        await tool({"city": "北京"}, Recorder().ctx)


def test_is_chinese() -> None:
    assert is_chinese("北京") and not is_chinese("Beijing")


async def test_weather_then_reminder_plan_through_the_app(meteo: FakeOpenMeteo) -> None:
    """The plan the planner makes for 查询北京明天的天气并生成一段提醒文案, run on the built-in tools."""
    settings = Settings(http_allow=["127.0.0.1"], weather_geocoding_url=meteo.geocoding_url,
                        weather_forecast_url=meteo.forecast_url)
    model = ScriptedModel(["明天北京有雨，出门记得带伞。"])
    app = AutoGLM(settings=settings, model=model)
    result = await app.execute({"steps": [
        {"id": "weather", "uses": "weather.forecast", "with": {"city": "北京", "date": "明天"}},
        {"id": "reminder", "uses": "llm.generate",
         "with": {"prompt": "根据天气写一段出行提醒：${weather.output.summary}"}},
    ]})
    assert result.status == "succeeded", result.answer
    assert result.answer.startswith("北京明天（")
    assert "明天北京有雨，出门记得带伞。" in result.answer
    prompt = model.requests[0].messages[-1].content
    assert prompt.startswith("根据天气写一段出行提醒：<data>\n北京明天（") and prompt.endswith("\n</data>")
    kinds = [e.kind for e in app.trace(result.task_id)]
    assert kinds.count(EventKind.STEP_FINISHED) == 2
    await app.aclose()
