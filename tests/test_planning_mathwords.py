"""Arithmetic written in words (Chinese and English) becomes one expression the calculator evaluates."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from openautoglm.planning.intent import parse_intent
from openautoglm.planning.mathwords import (
    asks_result,
    cn_to_int,
    computes_with,
    continues,
    digits,
    states_quantity,
    to_expression,
)
from openautoglm.tools.calculator import calculate


def value(text: str) -> float:
    expression = to_expression(text)
    assert expression is not None, text
    return float(calculate(expression)["result"])


@pytest.mark.parametrize("text, expected", [
    # powers and roots
    ("2 的 12 次方等于几", 2**12),
    ("四的三次方", 4**3),
    ("what's 3 to the power of 7?", 3**7),
    ("5 raised to the 4th power", 5**4),
    ("how much is 13 squared", 13**2),
    ("6 的立方是多少", 6**3),
    ("the square root of 169 minus 3", math.sqrt(169) - 3),
    ("81 的平方根", 9),
    ("cube root of 64", 4),
    # percentages
    ("what is 12.5% of 4,800", 0.125 * 4800),
    ("18 percent of 250", 0.18 * 250),
    ("600 的百分之二十五是多少", 600 * 0.25),
    ("百分之八乘以 1500", 0.08 * 1500),
    ("1,250 的 40%", 1250 * 0.4),
    ("36 是 240 的百分之几", 36 / 240 * 100),
    ("what percentage of 400 is 50", 50 / 400 * 100),
    ("从 120 涨到 150 涨了百分之几", (150 - 120) / 120 * 100),
    # discounts and changes
    ("一双鞋 360 元打八五折", 360 * 0.85),
    ("这件 240 块的外套打六折多少钱", 240 * 0.6),
    ("原价 99 元，打九五折", 99 * 0.95),
    ("25% off 80 dollars", 80 * 0.75),
    ("a 300 dollar phone with 15% off", 300 * 0.85),
    ("2000 增加 15%", 2000 * 1.15),
    ("a 40 dollar meal plus 8% tax", 40 * 1.08),
    # fractions and multiples
    ("half of 350", 175),
    ("a quarter of 96", 24),
    ("three quarters of 200", 150),
    ("480 的一半", 240),
    ("150 的五分之二", 60),
    ("twice 17", 34),
    ("45 的 3 倍", 135),
    # Chinese numerals and English number words
    ("一百二十乘以十五", 120 * 15),
    ("两千减去三百五十", 2000 - 350),
    ("三点五加四点二五", 3.5 + 4.25),
    ("1.2万除以 4", 12000 / 4),
    ("twenty-five times four", 100),
    ("the sum of 12, 30 and 58", 100),
    ("the average of 4, 8 and 15", 9),
    ("the product of 6 and 7", 42),
    ("the difference between 90 and 35", 55),
    # chains in the order said
    ("(30+20)*4 然后除以 5", 40),
    ("先算 7 乘 8，再加 6", 62),
    ("an 800 yuan bike, 25% off, then take away 50 more", 800 * 0.75 - 50),
    ("add 10 to 20 then multiply by 3", 90),
    ("start with 9, add 1, then multiply by 7, then divide by 2", 35),
    ("一件 260 元的毛衣先打八折再减 30 元", 260 * 0.8 - 30),
    ("5 squared, then double it", 50),
    # fractions written with a slash, splitting, "more than", deductions
    ("what is 5/8 as a percentage", 62.5),
    ("200 的 3/5", 120),
    ("2/3 of 90", 60),
    ("split a 90 dollar bill between 4 people", 22.5),
    ("360 元平均分给 8 个人", 45),
    ("what is 40 percent more than 50", 70),
    ("比 200 便宜 15%", 170),
    ("工资 9000，扣除 20% 的税", 7200),
    # a percentage added to or taken off the number before it, not the bare number
    ("Calculate 250 minus 18 percent", 205), ("250 减去 18%", 205), ("80 plus 5 percent", 84),
    ("100 minus 20", 80),
])
def test_words_become_the_right_arithmetic(text: str, expected: float) -> None:
    assert value(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", [
    "How many days are there between 2026-03-02 and 2026-09-14?",
    "我的电话是 139-1234-5678",
    "上周哪个产品卖得最好",
    "它比第二名多卖了百分之几",
    "一下午开了 3 个会",
    "写一首关于秋天的诗",
])
def test_no_arithmetic_is_read_where_none_is_asked(text: str) -> None:
    assert to_expression(text) is None


def test_numbers_are_written_as_digits_only_where_they_are_numbers() -> None:
    assert cn_to_int("一百二十") == 120 and cn_to_int("两千") == 2000 and cn_to_int("十五") == 15
    assert digits("三点五") == "3.5"
    assert digits("星期三第二名一下") == "星期三第二名一下"  # a weekday, an ordinal, a word
    assert digits("3,200 and 1,000,000") == "3200 and 1000000"
    assert "0.75" in digits("七五折") and "0.7" in digits("打七折")


def test_continuations_and_result_questions() -> None:
    assert continues("然后除以 8") and continues("再减 20 元") and continues("then multiply by 3")
    assert continues("打七折") and continues("add 4")
    assert not continues("告诉我今天星期几") and not continues("what's the weather")
    assert asks_result("最后多少钱？") and asks_result("what's the total?") and asks_result("结果是多少")
    assert not asks_result("今天星期几") and not asks_result("明天北京的天气是多少度呢还有风力呢")


@pytest.mark.parametrize("request_text, expected", [
    ("一台电视 3600 元，先打九折，然后再减 100 元，最后要付多少？", 3600 * 0.9 - 100),
    ("计算 (18+32)*6 然后除以 4", 75),
    ("Start with 15, add 5, then multiply by 4", 80),
    ("What's 20 percent of 90, then add 7?", 25),
    ("六的平方加八的平方，再开根号", 10),
])
def test_a_chain_split_by_connectives_stays_one_part(request_text: str, expected: float) -> None:
    intent = parse_intent(request_text, datetime(2026, 11, 22, 10))
    assert len(intent.parts) == 1
    assert intent.parts[0].arithmetic is not None
    assert float(calculate(intent.parts[0].arithmetic)["result"]) == pytest.approx(expected)


@pytest.mark.parametrize("request_text, expected", [
    ("A pair of boots costs 180 dollars and is 25% off. What do I pay?", 180 * 0.75),
    ("A sofa is 900 dollars. It is 10% off this week. What's the price now?", 810),
    ("My rent budget: I earn 6400 a month and spend 35% on rent. How much is left?", 6400 * 0.65),
    ("一辆自行车原价 1500 元，现在打九折，要付多少？", 1350),
    ("我月薪 12000 元。房租花掉 30%，还剩多少钱？", 8400),
    ("这件衬衫 240 元。店里打七五折，最后多少钱", 180),
])
def test_a_statement_of_a_quantity_joins_the_computation_that_uses_it(request_text: str, expected: float) -> None:
    intent = parse_intent(request_text, datetime(2026, 11, 22, 10))
    assert len(intent.parts) == 1, [p.text for p in intent.parts]
    assert intent.parts[0].arithmetic is not None
    assert float(calculate(intent.parts[0].arithmetic)["result"]) == pytest.approx(expected)


def test_statements_of_quantities() -> None:
    assert states_quantity("A jacket costs 250 dollars") and states_quantity("这台电脑原价 6000 元")
    assert not states_quantity("How much is 250 dollars in euros?") and not states_quantity("算一下 6000 元")
    assert not states_quantity("上周哪个产品卖得最好")
    assert computes_with("A jacket costs 250 dollars", "and is 30% off")
    assert computes_with("月薪 8000 元", "扣掉 20% 的税，还剩多少")
    # A second statement, or a question of its own, does not compute with the first.
    assert not computes_with("上周卖了 500 件", "这周卖了 600 件")
    assert not computes_with("I have 3 apples", "what's the weather in Paris?")
    intent = parse_intent("我有 3 个苹果。明天北京天气怎么样？", datetime(2026, 11, 22, 10))
    assert len(intent.parts) == 2


def test_a_date_said_alone_joins_what_follows() -> None:
    intent = parse_intent("Last week, how many units did we sell?", datetime(2026, 11, 22, 10))
    assert [p.text for p in intent.parts] == ["Last week, how many units did we sell?"]
    assert intent.parts[0].dates[0].period.days == 7
    two = parse_intent("上周卖了多少件？明天北京天气怎么样？", datetime(2026, 11, 22, 10))
    assert len(two.parts) == 2


def test_independent_parts_are_still_split() -> None:
    intent = parse_intent("计算 123*456，并告诉我今天星期几", datetime(2026, 11, 22, 10))
    assert [p.arithmetic for p in intent.parts] == ["123*456", None]
