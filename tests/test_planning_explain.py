"""`autoglm plan --explain`: why each tool was chosen."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from openautoglm.cli import app


def test_plan_explain_shows_scores_matched_words_and_slots() -> None:
    result = CliRunner().invoke(app, ["plan", "计算 123*456，并告诉我今天星期几", "--explain", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    first, second = data["explanation"]
    assert first["chosen"] == "math.calculate" and first["args"] == {"expression": "123*456"}
    assert first["slots"]["expression"] == "arithmetic in the request"
    assert first["fillers"] == {"expression": "ExpressionFiller"}  # the slot filler that fired
    top = first["candidates"][0]
    assert top["tool"] == "math.calculate" and top["score"] > 0 and top["matched"]
    assert second["connective"] == "并" and second["chosen"].startswith("time.")
    assert [s["uses"] for s in data["plan"]["steps"]] == ["math.calculate", second["chosen"]]


def test_plan_explain_text_names_the_question_when_a_city_is_missing() -> None:
    result = CliRunner().invoke(app, ["plan", "提醒我明天带伞", "--explain"])
    assert result.exit_code == 0, result.output
    assert "weather.forecast" in result.stdout and "missing: city" in result.stdout
    assert "[DateFiller]" in result.stdout
    assert "question for the user: 请问是哪个城市？" in result.stdout
