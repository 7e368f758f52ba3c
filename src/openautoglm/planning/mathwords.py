"""Arithmetic written in words, in Chinese or English, as an expression ``math.calculate`` reads. Rules only.

    to_expression("3 的 10 次方是多少？")               -> "3 ** 10"
    to_expression("三的五次方")                          -> "3 ** 5"
    to_expression("What is 7.5% of 3,200?")            -> "(7.5 / 100 * 3200)"
    to_expression("480 元，先打七折再减 20 元")             -> "(480 * 0.7) - 20"
    to_expression("(45+55)*12 然后除以 8")                -> "((45+55)*12) / 8"
    to_expression("start with 12, add 8, then multiply by 3") -> "(12 + 8) * 3"

Three stages: numbers are written as digits (Chinese numerals, English number words, thousands separators,
万/亿); phrases become operators or small sub-expressions (次方, squared, 七五折, 20% off, half of, 的一半, sum of,
是…的百分之几); then the text is scanned for the longest run of operands and operators, where a sequencing word
(然后, 再, then, a comma) before an operator applies it to everything computed so far, in the order the request
says. Percentages come out as ``(x / 100)`` so that no ``%`` is left for the calculator to read as modulo.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

NUM = r"\d+(?:\.\d+)?"
# An operand a phrase may apply to: a number, a parenthesised group (one level of nesting), or sqrt(...).
OPERAND = r"(?:sqrt)?\((?:[^()]|\([^()]*\))*\)|\d+(?:\.\d+)?"

_FULL_WIDTH = str.maketrans({
    "（": "(", "）": ")", "＋": "+", "－": "-", "＊": "*", "／": "/", "％": "%", "×": "*", "÷": "/", "＾": "^",
    "．": ".", "　": " ", "−": "-", "＝": "=", "？": "?", **{chr(0xFF10 + i): str(i) for i in range(10)},
})

# A Chinese numeral, but not an ordinal (第二), a weekday (星期三), a word (一下, 一样, 一半) or 百分之 (a percent).
_CN_NUMERAL = re.compile(r"(?<![\d第星期周礼拜初])[零〇一二两三四五六七八九十][零〇一二两三四五六七八九十百千万亿]*"
                         r"(?:点[零〇一二三四五六七八九]+)?(?![下些样起直定共切般旦致概同半])")

_EN_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
             "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
            "ninety": 90}
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_EN_WORD = "|".join([*_EN_UNITS, *_EN_TENS, *_EN_SCALES])
_EN_NUMBER = re.compile(rf"\b(?:{_EN_WORD})(?:(?:\s+|-|\s+and\s+)(?:{_EN_WORD}))*\b", re.I)
_EN_FRACTIONS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4,
                 "fourths": 4, "fifth": 5, "fifths": 5, "tenth": 10, "tenths": 10}


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}


def cn_to_int(text: str) -> int | None:
    """二十三 -> 23, 两百 -> 200, 十 -> 10; None when it is not a Chinese numeral."""
    if not text or any(ch not in _CN_DIGITS and ch not in _CN_UNITS for ch in text):
        return None
    total, section, digit = 0, 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:
            unit = _CN_UNITS[ch]
            if unit >= 10_000:
                total += (section + digit) * unit
                section, digit = 0, 0
            else:
                section += (digit or 1) * unit
                digit = 0
    return total + section + digit


def _cn_value(text: str) -> float | None:
    """三 -> 3, 一百二十 -> 120, 三点五 -> 3.5, 七五 -> None (digits without units are not one number)."""
    whole, _, frac = text.partition("点")
    if len(whole) > 1 and not any(ch in "十百千万亿" for ch in whole):
        return None
    number = cn_to_int(whole.replace("〇", "零")) if whole else 0
    if number is None:
        return None
    if frac:
        return float(f"{number}.{''.join(str(_CN_DIGITS[ch]) for ch in frac)}")
    return number


def _en_value(text: str) -> int | None:
    total, current = 0, 0
    for word in re.split(r"[\s-]+", text.lower()):
        if word == "and":
            continue
        if word in _EN_TENS:
            current += _EN_TENS[word]
        elif word in _EN_SCALES:
            scale = _EN_SCALES[word]
            if scale == 100:
                current = (current or 1) * 100
            else:
                total += (current or 1) * scale
                current = 0
        elif word in _EN_UNITS:
            current += _EN_UNITS.index(word)
        else:
            return None
    return total + current


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _digit(ch: str) -> int:
    return int(ch) if ch.isdigit() else _CN_DIGITS[ch]


def _discount(m: re.Match[str]) -> str:
    """七五折 -> * 0.75, 打八折 -> * 0.8, 9.5折 -> * 0.95: the price paid, in tenths."""
    tens, ones = m.group(1), m.group(2)
    value = _digit(tens) / 10 + (_digit(ones) / 100 if ones else 0)
    return f" ⊗ {_fmt(round(value, 4))} "


def digits(text: str) -> str:
    """The text with every number written in digits: full-width forms, thousands separators, Chinese numerals,
    discounts (七五折 before 七五 is read as a number), 万 and 亿 after digits, English number words."""
    t = text.translate(_FULL_WIDTH)
    t = re.sub(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])", lambda m: m.group(0).replace(",", ""), t)
    t = re.sub(r"打?\s*(?:半价|对折)", " * 0.5 ", t)
    t = re.sub(r"打?\s*([1-9一二三四五六七八九])\s*(?:点|\.)?\s*([1-9一二三四五六七八九])?\s*折(?![扣合算旧叠])",
               _discount, t)
    t = re.sub(rf"({NUM})\s*(万|亿)(?![米克])",
               lambda m: _fmt(float(m.group(1)) * (10_000 if m.group(2) == "万" else 100_000_000)), t)
    t = re.sub("百分之", "%PCT%", t)  # 百 here is part of a word, not a hundred
    t = _CN_NUMERAL.sub(lambda m: _fmt(v) if (v := _cn_value(m.group(0))) is not None else m.group(0), t)
    t = t.replace("%PCT%", "百分之")
    t = re.sub(rf"\b(a|one|two|three|four|five|{NUM})\s+({'|'.join(_EN_FRACTIONS)})\s+of\b",
               lambda m: f"{_en_value(m.group(1)) if not m.group(1)[0].isdigit() else m.group(1)} "
                         f"FRACTION{_EN_FRACTIONS[m.group(2).lower()]} of".replace("None", "1"), t, flags=re.I)
    t = _EN_NUMBER.sub(lambda m: str(v) if (v := _en_value(m.group(0))) is not None else m.group(0), t)
    return t


@dataclass(frozen=True)
class _Phrase:
    pattern: re.Pattern[str]
    replace: str | Callable[[re.Match[str]], str]


def _p(pattern: str, replace: str | Callable[[re.Match[str]], str], flags: int = re.I) -> _Phrase:
    return _Phrase(re.compile(pattern.replace("{OPERAND}", OPERAND).replace("{NUM}", NUM), flags), replace)


def _list_call(fn: str, joiner: str | None = None) -> Callable[[re.Match[str]], str]:
    def make(m: re.Match[str]) -> str:
        items = re.findall(OPERAND, m.group(1))
        return f"({f' {joiner} '.join(items)})" if joiner else f"{fn}({', '.join(items)})"

    return make


_LIST = r"((?:{OPERAND})(?:\s*(?:,|，|、|and|和|与|跟)\s*(?:{OPERAND}))+)"
# Ordered: the larger phrases first, so that "the sum of 3 and 4" is read before "and" means anything else.
PHRASES: list[_Phrase] = [
    # questions about a share or a change: 45 是 180 的百分之几, what percent of 180 is 45, 从 80 涨到 100 涨了百分之几
    _p(r"({OPERAND})\s*(?:是|占)\s*({OPERAND})\s*的\s*(?:百分之\s*几|百分之\s*多少|多少\s*%|几\s*%|百分比|比例)",
       r" percent(\1, \2) "),
    _p(r"what\s+percent(?:age)?\s+of\s+({OPERAND})\s+is\s+({OPERAND})", r" percent(\2, \1) "),
    _p(r"what\s+percent(?:age)?\s+(?:is|of)\s+({OPERAND})\s+(?:of|is)\s+({OPERAND})", r" percent(\1, \2) "),
    _p(r"从\s*({OPERAND})\s*\S{0,3}?到\s*({OPERAND})[^\d]{0,8}?(?:百分之\s*几|百分之\s*多少|多少\s*%|几\s*%|百分比|幅度)",
       r" pct_change(\1, \2) "),
    _p(r"percent(?:age)?\s+(?:change|increase|decrease|growth|drop)\s+from\s+({OPERAND})\s+to\s+({OPERAND})",
       r" pct_change(\1, \2) "),
    # sums, products, averages of listed numbers
    _p(r"(?:the\s+)?(?:sum|total)\s+of\s+" + _LIST, _list_call("", "+")),
    _p(r"(?:the\s+)?product\s+of\s+" + _LIST, _list_call("", "*")),
    _p(r"(?:the\s+)?(?:average|mean)\s+of\s+" + _LIST, _list_call("mean")),
    _p(r"(?:the\s+)?difference\s+between\s+({OPERAND})\s+and\s+({OPERAND})", r" (\1 - \2) "),
    _p(_LIST + r"\s*的\s*(?:和|总和)", _list_call("", "+")),
    _p(_LIST + r"\s*的\s*(?:积|乘积)", _list_call("", "*")),
    _p(_LIST + r"\s*的\s*(?:平均数|平均值|平均)", _list_call("mean")),
    # verbs with both operands: add 5 to 10, subtract 3 from 10, multiply 4 by 5, divide 20 by 4
    _p(r"\badd\s+({OPERAND})\s+(?:to|and)\s+({OPERAND})", r" (\2 + \1) "),
    _p(r"\bsubtract\s+({OPERAND})\s+from\s+({OPERAND})", r" (\2 - \1) "),
    _p(r"\bmultiply\s+({OPERAND})\s+(?:by|and|with)\s+({OPERAND})", r" (\1 * \2) "),
    _p(r"\bdivide\s+({OPERAND})\s+by\s+({OPERAND})", r" (\1 / \2) "),
    # a fraction as a percentage: 3/8 as a percentage, 3/8 是百分之几
    _p(r"({NUM}\s*/\s*{NUM}|{OPERAND})\s+as\s+an?\s+percent(?:age)?|({NUM}\s*/\s*{NUM})\s*(?:是|等于)?\s*百分之\s*(?:几|多少)",
       lambda m: f" ({(m.group(1) or m.group(2)).replace(' ', '')}) * 100 "),
    # splitting: split a 240 dollar bill among 6 people, 240 元平均分给 6 个人
    _p(r"split\s+(?:a|an|the)?\s*[$¥]?\s*({NUM})\s*(?:dollars?|yuan|元)?\s*(?:[a-z]+\s+)?(?:among|between|by|with|into)"
       r"\s+({NUM})", r" (\1 / \2) "),
    _p(r"({NUM})\s*(?:元|块钱?|dollars?)?\s*(?:平均|平摊|均)?分(?:给|成|为|到)\s*({NUM})", r" (\1 / \2) "),
    # percentages: 7.5% of 3200, 3200 的 15%, 20% off 150, a 20% discount, 增加 20%, plus 8% tax
    _p(r"百分之\s*({NUM})", r"\1%"),
    _p(r"({NUM})\s*(?:%|percent)\s*(more|higher|greater|bigger|less|lower|fewer|smaller)\s+than\s+({OPERAND})",
       lambda m: f" ({m.group(3)} * (1 {'+' if m.group(2).lower() in ('more', 'higher', 'greater', 'bigger') else '-'} "
                 f"{m.group(1)} / 100)) "),
    _p(r"比\s*({OPERAND})\s*(多|高|贵|少|低|便宜)\s*({NUM})\s*%",
       lambda m: f" ({m.group(1)} * (1 {'+' if m.group(2) in ('多', '高', '贵') else '-'} {m.group(3)} / 100)) "),
    _p(r"(?:扣掉|扣除|扣|减去|减掉|minus|less)\s*({NUM})\s*%", r" ⊗ (1 - \1 / 100) "),
    # a share spent: what is left when the question asks for it ("spend 40% on rent. How much is left?"), else the
    # share itself ("花 30% 交房租，房租多少")
    _p(r"(?:spends?|spent|pays?|paid|uses?|used|花掉?了?|用掉?了?|交掉?了?|支出)\s*({NUM})\s*(?:%|percent)"
       r"(?=.*(?:\bleft\b|remain|\brest\b|\bsave|剩|余))", r" ⊗ (1 - \1 / 100) "),
    _p(r"(?:spends?|spent|花掉?了?|用掉?了?|支出)\s*({NUM})\s*(?:%|percent)", r" ⊗ (\1 / 100) "),
    # an amount spent is taken away: "I have 1200 dollars. If I spend 300, …", "我有 500 元，买了一件 180 元的衣服"
    _p(r"(?:\b(?:if|and|then|but)\s+)?(?:\b(?:i|we|you|he|she|they)\s+)?\b(?:spend|spent|pay|paid|lose|lost|give\s+away)"
       r"\s+[$¥]?\s*({NUM})(?!\s*(?:%|percent))", r" - \1 "),
    _p(r"(?:花(?:掉|了)了?|用(?:掉|了)了?|付了|买了(?:\d+\s*[件个本双台张条份])?)\s*[$¥]?\s*({NUM})(?=\s*(?:元|块|美元))",
       r" - \1 "),
    _p(r"({NUM})\s*(?:%|percent|per\s*cent)\s*(?:of|的)\s*({OPERAND})", r" (\1 / 100 * \2) "),
    _p(r"({OPERAND})\s*的\s*({NUM})\s*%", r" (\1 * \2 / 100) "),
    _p(r"({NUM})\s*(?:%|percent)\s*off\s+(?:of\s+)?({OPERAND})", r" (\2 * (1 - \1 / 100)) "),
    _p(r"(?:with\s+)?(?:an?\s+)?({NUM})\s*(?:%|percent)\s*(?:off|discount)", r" ⊗ (1 - \1 / 100) "),
    _p(r"(?:减少|降低|下降|下跌|降价|便宜|少了?|decrease[sd]?\s+(?:it\s+)?by|reduce[sd]?\s+(?:it\s+)?by|"
       r"cut\s+(?:it\s+)?by|drops?\s+by|falls?\s+by)\s*({NUM})\s*(?:%|percent)", r" ⊗ (1 - \1 / 100) "),
    _p(r"(?:增加|增长|提高|上涨|涨价?|多了?|increase[sd]?\s+(?:it\s+)?by|raise[sd]?\s+(?:it\s+)?by|"
       r"grows?\s+by|rises?\s+by)\s*({NUM})\s*(?:%|percent)", r" ⊗ (1 + \1 / 100) "),
    _p(r"(?:plus|with|add(?:ing)?|加上?|含)\s*(?:an?\s+)?({NUM})\s*(?:%|percent)\s*(?:的\s*)?(?:sales\s+)?"
       r"(?:tax|tip|vat|税|服务费|小费|手续费)",
       r" ⊗ (1 + \1 / 100) "),
    # a percentage added to or taken off what comes before it: 250 minus 18 percent, 80 加上 5%
    _p(r"(?:minus|less|减去|减掉)\s*({NUM})\s*(?:%|percent|per\s*cent)(?!\s*(?:of|的))", r" ⊗ (1 - \1 / 100) "),
    _p(r"(?:plus|加上)\s*({NUM})\s*(?:%|percent|per\s*cent)(?!\s*(?:of|的))", r" ⊗ (1 + \1 / 100) "),
    # powers and roots
    _p(r"({OPERAND})\s*的\s*({OPERAND})\s*次(?:方|幂)", r" \1 ** \2 "),
    _p(r"({OPERAND})\s*(?:to\s+the\s+power\s+of|to\s+the|raised\s+to(?:\s+the(?:\s+power(?:\s+of)?)?)?|\^)\s*"
       r"({OPERAND})(?:st|nd|rd|th)?(?:\s+power)?", r" \1 ** \2 "),
    _p(r"(?:the\s+)?square\s+root\s+of\s+({OPERAND})|√\s*({OPERAND})|根号\s*({OPERAND})|({OPERAND})\s*的\s*平方根",
       lambda m: f" sqrt({next(g for g in m.groups() if g)}) "),
    _p(r"(?:the\s+)?cube\s+root\s+of\s+({OPERAND})|({OPERAND})\s*的\s*立方根",
       lambda m: f" ({next(g for g in m.groups() if g)} ** (1 / 3)) "),
    _p(r"(?:the\s+)?square\s+of\s+({OPERAND})", r" \1 ** 2 "),
    _p(r"(?:the\s+)?cube\s+of\s+({OPERAND})", r" \1 ** 3 "),
    _p(r"({OPERAND})\s*(?:的\s*平方(?!根)|squared\b|平方(?![根米公千英厘分]))", r" \1 ** 2 "),
    _p(r"({OPERAND})\s*(?:的\s*立方(?!根)|cubed\b|立方(?![根米厘分]))", r" \1 ** 3 "),
    # fractions and multiples: half of 90, two thirds of 90, 90 的一半, 90 的三分之二, 三分之一, twice 7, 90 的 3 倍
    _p(r"({NUM})\s+FRACTION(\d+)\s+of\s+({OPERAND})", r" (\3 * \1 / \2) "),
    _p(r"\bhalf\s+(?:of\s+)?({OPERAND})", r" (\1 / 2) "),
    _p(r"({OPERAND})\s*的\s*一半", r" (\1 / 2) "),
    _p(r"({OPERAND})\s*的\s*({NUM})\s*分之\s*({NUM})", r" (\1 * \3 / \2) "),
    _p(r"({OPERAND})\s*的\s*({NUM})\s*/\s*({NUM})", r" (\1 * \2 / \3) "),
    _p(r"({NUM})\s*/\s*({NUM})\s+of\s+({OPERAND})", r" (\3 * \1 / \2) "),
    _p(r"({NUM})\s*分之\s*({NUM})", r" (\2 / \1) "),
    _p(r"\b(?:twice|double)\s+({OPERAND})", r" (2 * \1) "),
    _p(r"\btriple\s+({OPERAND})", r" (3 * \1) "),
    _p(r"({OPERAND})\s*的\s*({NUM})\s*倍", r" (\1 * \2) "),
    # money taken off: 再便宜 100 元, 用一张 20 元的优惠券, I use a 20 dollar coupon, $15 off
    _p(r"(?:(?:i\s+)?(?:use|apply|have)\s+)?(?:a|an|one)?\s*[$¥]?\s*({NUM})\s*(?:-?\s*(?:dollars?|yuan|元|块))?\s*"
       r"(?:的)?\s*(?:coupon|voucher|优惠券|代金券|满减券|券)", r" - \1 "),
    _p(r"(?:用\s*(?:1|一)\s*张)\s*({NUM})\s*(?:元|块)?\s*(?:的)?\s*(?:优惠券|代金券|券)", r" - \1 "),
    _p(r"(?:便宜|优惠|减免|少付|抵扣|抵|立减|返现|扣除|扣掉|扣)\s*(?:了)?\s*(?=" + OPERAND + ")", " - "),
    _p(r"[$¥]\s*({NUM})\s+off\b|({NUM})\s*(?:dollars?|yuan)\s+off\b", lambda m: f" - {m.group(1) or m.group(2)} "),
    # what to do next, said without the left operand: 然后除以 8, then multiply by 3, 再翻倍, square it
    _p(r"\b(?:then\s+)?(?:double|doubled)\s+(?:it|that|the\s+result)\b|翻倍|翻一番|乘以\s*2\s*倍", " * 2 "),
    _p(r"\b(?:halve|halved)\s+(?:it|that|the\s+result)\b|减半", " / 2 "),
    _p(r"\bsquare\s+(?:it|that|the\s+result)\b", " ** 2 "),
    _p(r"\b(?:take\s+)?the\s+square\s+root\s+of\s+(?:it|that|the\s+result)\b|\btake\s+the\s+square\s+root\b|开平?方|开根号",
       " @sqrt "),
    _p(r"\b(?:add|plus)\s+(?=" + OPERAND + ")", " + "),
    _p(r"\b(?:subtract|take\s+away|minus|less)\s+(?=" + OPERAND + ")", " - "),
    _p(r"\b(?:multiply|multiplied)\s+(?:it\s+|that\s+|the\s+result\s+)?by\s+|\btimes\s+(?=" + OPERAND + ")", " * "),
    _p(r"\b(?:divide|divided)\s+(?:it\s+|that\s+|the\s+result\s+)?by\s+|(?<=[\d)])\s*over\s+(?=" + OPERAND + ")",
       " / "),
    _p(r"\bmod(?:ulo)?\s+(?=" + OPERAND + ")", " % "),
    _p(r"(?:乘以|乘上|乘)\s*(?=" + OPERAND + ")", " * "),
    _p(r"(?:除以)\s*(?=" + OPERAND + ")", " / "),
    _p(r"(?:加上|加)\s*(?=" + OPERAND + ")", " + "),
    _p(r"(?:减去|减掉|减)\s*(?=" + OPERAND + ")", " - "),
    _p(r"(?<=[\d)])\s*除\s*(?=" + OPERAND + ")", " / "),
    _p(r"(?<=[\d)])\s*x\s*(?=" + OPERAND + ")", " * "),
    # a percentage left alone is a number (0.15), not arithmetic of its own
    _p(r"({NUM})\s*%", lambda m: f" {Decimal(m.group(1)) / 100} "),
]

# Words that say "next, to what we have so far" (before an operator) or end nothing (between parts of a run).
_THEN = re.compile(r"然后|接着|之后|随后|再|最后|then|after\s+that|next|and\s+then|[,，;；]", re.I)
_FILLER = re.compile(r"先|把|将|用|后|它|结果|得数|元|块钱?|美元|美金|人民币|dollars?|bucks|yuan|rmb|[$¥￥]|it\b|that\b"
                     r"|the\s+result\b|start\s+with\b|begin\s+with\b|take\b|and\b|is\b|的"
                     r"|(?:a|per|each|every)\s+(?:month|year|week|day|hour)\b|每个?(?:月|年|周|天|小时)"
                     # when an amount was spent does not change it: "昨天花了 1200 元", "today it is 15% off"
                     r"|昨天|今天|前天|上周|这周|本周|上个月|这个月|本月|yesterday\b|today\b"
                     r"|(?:this|last)\s+(?:week|month)\b", re.I)
_TOKEN = re.compile(r"\s+|(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<func>sqrt|mean|percent|pct_change)\s*\("
                    r"|(?P<op>\*\*|[-+*/%])|(?P<applied>⊗)|(?P<lp>\()|(?P<rp>\))|(?P<sqrt>@sqrt)")


@dataclass
class _Run:
    """One run of arithmetic being read: the expression so far (pieces keep the space written before them), the
    groups still open, how many operators it holds."""

    stack: list[list[str]] = field(default_factory=lambda: [[]])
    operators: int = 0
    expecting_operand: bool = True
    then: bool = False

    @property
    def current(self) -> list[str]:
        return self.stack[-1]

    def text(self) -> str:
        return "".join(self.stack[0]).strip()


def _tokens(text: str) -> list[tuple[str, str, bool]]:
    """(kind, text, whether space or filler came before it) for each piece of the text; what is neither
    arithmetic nor filler is a 'word', which ends a run."""
    out: list[tuple[str, str, bool]] = []
    i, gap = 0, False
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m and m.end() > i:
            if m.lastgroup:
                out.append((m.lastgroup, m.group(0).replace(" ", "") if m.lastgroup == "func" else m.group(0), gap))
                gap = False
            else:
                gap = True
            i = m.end()
            continue
        m = _THEN.match(text, i) or _FILLER.match(text, i)
        if m:
            if m.re is _THEN:
                out.append(("then", m.group(0), gap))
            i, gap = m.end(), True
            continue
        word = re.match(r"[A-Za-z]+|.", text[i:], re.S)
        piece = word.group(0) if word else text[i]
        out.append(("word", piece, gap))
        i, gap = i + len(piece), True
    return out


def _runs(text: str) -> list[_Run]:
    runs: list[_Run] = []
    run = _Run()
    # A run that words interrupted: a discount or a tax said after them still applies to its amount
    # ("一件 260 元的毛衣打八折", "a 300 dollar phone with 15% off").
    interrupted: _Run | None = None

    def close() -> None:
        nonlocal run, interrupted
        complete = len(run.stack) == 1 and not run.expecting_operand
        if complete and run.operators:
            runs.append(run)  # an unclosed group or a dangling operator is not arithmetic
        interrupted = run if complete else None
        run = _Run()

    def operand(kind: str, tok: str, space: str) -> bool:
        if kind == "num":
            run.current.append(space + tok)
            run.expecting_operand = False
        elif kind in ("lp", "func"):
            run.stack.append([space + tok])
            run.operators += kind == "func"
        else:
            return False
        return True

    for kind, tok, gap in _tokens(text):
        space = " " if gap and run.current else ""
        if kind == "applied" and not run.current and len(run.stack) == 1 and interrupted is not None:
            if interrupted in runs:
                runs.remove(interrupted)
            run, interrupted = interrupted, None
        if kind == "applied":
            kind, tok = "op", "*"
        if kind == "word":
            if run.current or len(run.stack) > 1:
                close()
        elif kind == "then":
            if len(run.stack) > 1 and tok in ",，":
                run.current.append(",")  # an argument separator inside mean(...) or percent(...)
                run.expecting_operand = True
            elif not run.expecting_operand:
                run.then = True
        elif run.expecting_operand:
            if operand(kind, tok, space):
                if len(run.current) == 1 and len(run.stack) == 1:
                    interrupted = None
                continue
            if kind == "op" and tok in "+-" and not run.current:
                run.current.append(tok)
                continue
            close()
            operand(kind, tok, "")
        elif kind == "op":
            if run.then and len(run.stack) == 1 and run.operators and len(run.stack[0]) > 1:
                # "(45+55)*12 然后除以 8": the operation applies to everything so far, in the order said
                run.stack[0] = ["(" + run.text() + ")"]
            run.then = False
            run.current.append(" " + tok if gap else tok)
            run.operators += 1
            run.expecting_operand = True
        elif kind == "sqrt":
            run.stack[-1] = [f"sqrt({''.join(run.current).strip()})"]
            run.operators += 1
            run.then = False
        elif kind == "rp" and len(run.stack) > 1:
            inner = run.stack.pop()
            run.current.append("".join(inner) + ")")
        else:
            close()
            operand(kind, tok, "")
    close()
    return runs


_DATE_LIKE = re.compile(r"\d+-\d+-\d+")


def phrases(text: str) -> str:
    """The text with numbers in digits and arithmetic phrases as operators (the stage before the scan)."""
    t = digits(text)
    for phrase in PHRASES:
        t = phrase.pattern.sub(phrase.replace, t)
    return t


def to_expression(text: str) -> str | None:
    """The arithmetic ``text`` asks for as one expression, or None when it asks for none."""
    best: _Run | None = None
    for run in _runs(phrases(text)):
        if _DATE_LIKE.search(run.text()):
            continue  # 2026-01-15, 138-1234-5678: written with dashes, not subtractions
        if best is None or run.operators > best.operators:
            best = run
    return " ".join(best.text().split()).replace("( ", "(").replace(" )", ")") if best else None


# Words a continuing piece may open with before its operation: a sequence word, or the verb and time words that
# only carry a statement on ("and is 30% off", "现在打八五折", "但要扣 20% 的税").
_CONTINUES = re.compile(r"^\s*(?:先|再|然后|接着|之后|随后|最后|现在|目前|如今|但是?|又|还|并且|"
                        r"then|and|but|now|it|it's|is|are|was|has|had|after\s+that|next|,|，|\s)*\s*"
                        r"(?:(?:[-+*/⊗]|\*\*)\s*(?:\(|\d|sqrt|@)|@sqrt)", re.I)
_ASKS_RESULT = re.compile(r"^\s*(?:那么|那|所以|最后|最终|结果|一共|总共|现在|还剩|剩下|得到|等于)?\s*[^\d\s]{0,4}?"
                          r"(?:多少钱?|是多少|几元|几块|等于几|多少元)\s*[?？。!！]*$"
                          r"|^\s*(?:so\s+)?(?:what(?:'s|\s+is)\s+(?:the\s+)?(?:result|answer|total|final\s+\w+)"
                          r"|how\s+much\s+(?:is\s+(?:it|that|left)|do\s+i\s+(?:pay|get|have)|does\s+it\s+cost"
                          r"|(?:will|would)\s+(?:i|it|that|we)\s+(?:have|get|be|pay|owe|cost))"
                          r"|how\s+much\s+(?:money\s+)?(?:do|should|must|can)\s+(?:i|we)\s+(?:pay|owe|have|get|keep|save)"
                          r"|how\s+much\s+(?:is|do\s+i\s+have|will\s+i\s+have)\s+(?:left|remaining)"
                          r"|what\s+(?:will|would|do|should|must)\s+(?:i|we)\s+(?:have|get|owe|pay)"
                          r"|what\s+(?:will|would)\s+it\s+be|what\s+is\s+left|what(?:'s|\s+is)\s+the\s+price"
                          r")(?:\s+(?:now|then|left|in\s+the\s+end|at\s+the\s+end|for\s+it|after\s+that))?"
                          r"\s*[?.!]*$", re.I)


def continues(text: str) -> bool:
    """Whether a piece of a request goes on with the arithmetic before it: it starts with an operation and no
    left operand ("除以 8", "再减 20 元", "then multiply by 3", "打七折")."""
    return bool(_CONTINUES.match(phrases(text)))


def asks_result(text: str) -> bool:
    """Whether a piece only asks for the result of the arithmetic before it ("最后多少钱", "what's the total")."""
    return bool(_ASKS_RESULT.match(text))


# A piece that asks something or tells to do something: it is not a statement of a quantity.
_ASKS_OR_TELLS = re.compile(r"[?？]|多少|几|吗|呢|算|求|\b(?:what|how|which|who|when|where|why|calculate|compute|"
                            r"work\s+out|tell|convert|find)\b", re.I)
_OPERATOR = re.compile(r"\*\*|[-+*/]")


def states_quantity(text: str) -> bool:
    """Whether a piece only states a quantity ("A jacket costs 250 dollars", "这台电脑原价 6000 元", "I earn 5000 a
    month"): it gives a number and neither asks nor tells anything."""
    return bool(re.search(r"\d", digits(text))) and not _ASKS_OR_TELLS.search(text)


def computes_with(statement: str, piece: str) -> bool:
    """Whether ``piece`` computes with the quantity ``statement`` gives: read together they make arithmetic with
    more operations than ``piece`` alone ("…250 dollars" + "is 30% off", "月薪 8000 元" + "扣掉 20% 的税还剩多少")."""
    joined = to_expression(f"{statement}，{piece}")
    if joined is None:
        return False
    alone = to_expression(piece)
    return alone is None or len(_OPERATOR.findall(joined)) > len(_OPERATOR.findall(alone))
