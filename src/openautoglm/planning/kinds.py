"""What kind of thing a part of a request asks for, read off its verbs in Chinese or English: an ACTION on the world
(book, send, submit, create, order, remind me at a time...), a TRANSLATION, WRITING (a reminder text, a poem, a
summary), CONVERSATION (a greeting, thanks) or else a QUESTION (a fact someone must know).

The rule planner asks this only of parts no tool matched: an action nobody can carry out and a fact nothing can
supply become *unsupported parts* of the plan instead of model text; writing and conversation are the model's job.
A translation is writing whose every word a reader relies on and no check can verify: only a capable model does it
(the embedded 135M model's translations were loops and wrong words); without one it is an unsupported part that
says what would make it possible. Its tool is matched on the ask alone (:func:`ask_words`: "翻译成英文"), never on
the text to translate ("翻译成英文：今天天气很好" asks for no weather).
It also keeps an action from being "done" by a tool that only reads (a weather forecast for "book a flight to
Shanghai tomorrow").
"""

from __future__ import annotations

import re
from enum import StrEnum


class Kind(StrEnum):
    ACTION = "action"
    TRANSLATION = "translation"
    WRITING = "writing"
    CONVERSATION = "conversation"
    QUESTION = "question"


# Chinese action verbs. 订 only as a verb (订单 is an order, 订阅 a subscription, both nouns here); 买 not in 买家.
_ZH_ACTION = re.compile(
    r"预订|预定|预约|订购|退订|订(?=[一两个张间份桌位票房了]|机票|车票|酒店|餐|外卖)|购买|(?<!卖)买(?!家|卖)|下单|付款|"
    r"支付|转账|汇款|充值|缴费|交费|发送|发给|发到|发(?=[一个条封份]|邮件|短信|消息|微信|信息)|寄(?!存)|"
    r"打(?:个|一个|一通)?电话|打给|"
    r"拨打|呼叫|提交|上传|删除|创建|新建|建一个|安排|取消|发布|注册|报名|申请|设置|设定|设(?=[一个]个?闹钟|个提醒)|"
    r"定(?=[一个]个?闹钟)|通知(?!书|单)|邀请|分享给|打车|叫车|叫一辆|开灯|关灯|播放|登记|挂号|投诉|退款|约(?=[一个]下|见)|"
    r"打印|复印|转发|删掉|删了|删去|移除|归档|备份|重命名|"
    # Writing something into a system: 添加到日历, 录入订单, 改成明天 (a question about it asks 怎么 or 是否).
    r"添加|加到|加进|加入到|录入|写入|记到|记在|存到|保存到|改成|改为|修改")
# The 把-construction moves its object somewhere or changes it: 把报表发给经理, 把文件上传到网盘, 把照片存到相册.
# A verb of moving with 给/到/进 after it is an action; 把销量按地区列出来 (list), 把结果告诉我 (tell) only read.
_ZH_BA_ACTION = re.compile(r"把.{1,30}?(?:发|传|寄|转|交|递|送|存|移|挪|拷|拷贝|复制|同步|导|放|贴|挂|推送)"
                           r"(?:过去)?(?:给|到|至|进)")
# A Chinese request that asks how or why is a question about the action, not the action.
_ZH_HOW = re.compile(r"怎么|怎样|如何|为什么|为何|是否|能不能.*吗|可以.*吗")
# English imperatives: the verb opens the clause, after polite openers ("please", "can you", "I need to").
_EN_OPENER = r"^(?:(?:please|kindly|now|also|and|then)\s+|(?:can|could|would|will) you(?: please)?\s+|" \
             r"i(?: would|'d)? (?:want|need|like|wish)(?: you)? to\s+|help me(?: to)?\s+|go ahead and\s+|let's\s+)*"
_EN_ACTION = re.compile(
    _EN_OPENER + r"(?:book|reserve|order|buy|purchase|pay|transfer|wire|send|email|e-mail|text|message|call|phone|"
    r"dial|ring|submit|upload|delete|remove|create|schedule|cancel|post|publish|tweet|register|sign (?:up|in)|"
    r"enroll|apply|set(?: up)?|notify|invite|share|deliver|install|uninstall|turn (?:on|off)|"
    r"switch (?:on|off)|open|close|play|rent|hire|add|file|renew|refund|return|subscribe|unsubscribe|print|"
    r"fax|mail|ship|arrange|move|rename|lock|unlock|forward|copy|archive|back up|erase|trash|repost|retweet)\b",
    re.I)
_ZH_WRITING = re.compile(r"写|撰写|起草|拟(?=[一个份封定])|生成|总结|概括|归纳|翻译|译成|改写|润色|续写|"
                         r"编(?=[一个首段])|作(?=一首|诗)|文案|诗|故事|口号|标语|祝福语|摘要|大纲")
_EN_WRITING = re.compile(r"\b(?:write|draft|compose|generate|summari[sz]e|translate|rewrite|paraphrase|proofread|"
                         r"polish|outline|brainstorm|poem|story|haiku|slogan|tagline|essay|caption|limerick|joke|"
                         r"lyrics|toast|blurb)\b", re.I)
_TRANSLATE = re.compile(r"翻译|译成|译为|\btranslat(?:e|ed|ion|ing)\b", re.I)
_LANGUAGES = re.compile(r"(?:英|中|汉|日|法|德|韩|俄|西班牙|葡萄牙|意大利|阿拉伯)(?:文|语)|粤语|普通话|"
                        r"\b(?:english|chinese|mandarin|cantonese|japanese|french|german|korean|russian|spanish|"
                        r"portuguese|italian|arabic)\b", re.I)
# "提醒我明天带伞" is a reminder to write now; "remind me at 5 pm" needs something that acts at 5 pm.
_REMIND = re.compile(r"提醒|叫我|\bremind", re.I)
_CLOCK_TIME = re.compile(r"\d{1,2}\s*[点:：]|[一二三四五六七八九十两]+点|分钟后|小时后|\b\d{1,2}\s*(?:am|pm|o'clock)\b|"
                         r"\bin \d+ (?:minutes?|hours?)\b|\bat (?:noon|midnight)\b", re.I)
# Small talk: greetings, thanks and praise, farewells, "how are you" (and how one's day was) — a whole part made of
# them, with a few fillers. Praise is thanks in other words ("you were a big help", "你真棒"): it asks for nothing.
_ZH_SMALL_TALK = (r"你好|您好|嗨|哈喽|哈啰|早上好|早安|上午好|中午好|下午好|晚上好|晚安|谢谢|多谢|感谢|辛苦了|"
                  r"再见|拜拜|回头见|明天见|下次见|你好吗|您好吗|最近怎么样|最近好吗|最近如何|在吗|在不在|很高兴认识你|认识你很高兴|"
                  r"(?:今天|最近|这几天|这阵子)?(?:过得|一切)(?:好吗|怎么样|还好吗|如何|顺利吗)|"
                  r"(?:你|您)?(?:真|太)(?:棒|好|厉害|给力)了?|(?:你|您)?帮了(?:我)?(?:大忙|很多|不少|很大的忙)")
_EN_SMALL_TALK = (r"hi|hello|hey|hiya|howdy|greetings|yo|thanks|thank you|thx|cheers|bye|goodbye|bye-bye|"
                  r"see you(?: later| soon| tomorrow| then| next time| around)?|"
                  r"good (?:morning|afternoon|evening|night|day)|"
                  r"how are you(?: doing| today)?|how's it going|how are things|what's up|nice to meet you|"
                  r"pleased to meet you|are you there|how (?:was|is) your day(?: going)?|how's your day(?: going)?|"
                  r"how have you been|"
                  r"you(?:'re| are| were|'ve been| have been) (?:so |very |really |such |truly )?(?:a )?"
                  r"(?:big |great |huge |real )?(?:help|helpful|great|awesome|amazing|the best|a lifesaver|lifesaver)|"
                  r"(?:great|awesome|amazing|nice) (?:job|work)")
_GREETING = re.compile(rf"^(?:(?:{_ZH_SMALL_TALK}|{_EN_SMALL_TALK})(?:[\s,，]*(?:you|啊|呀|哦|喔|啦|哈|呢|你|您|"
                       rf"there|so much|a lot|friend|buddy|all|everyone|today|大家|朋友|今天))*[\s!！。.,，~～?？]*)+$",
                       re.I)
_THANKS = re.compile(r"谢|感谢|辛苦|帮了|真棒|太棒|厉害|给力|\bthank|\bthx\b|\bcheers\b|\bhelp(?:ful)?\b|awesome|"
                     r"amazing|the best|lifesaver|\b(?:great|nice) (?:job|work)\b", re.I)
_FAREWELL = re.compile(r"再见|拜拜|回头见|明天见|下次见|晚安|\bbye\b|goodbye|see you|good night", re.I)
_HOW_ARE_YOU = re.compile(r"好吗|怎么样|如何|顺利吗|\bhow are you|how's it going|how are things|what's up|"
                          r"how (?:was|is|'s) your day|how's your day|how have you been", re.I)


# What the model is told for small talk: a reply, short, with nothing to state. The composer keeps its first line and
# checks it; a reply that fails (the 135M model answers Chinese greetings in English or in loops) gives way to the
# courtesy reply for the act (compose/phrases.py), so a greeting never ends `failed`.
SMALL_TALK_SYSTEM = {"zh": "用一句简短、友好的中文回复用户的寒暄，不要陈述任何事实。",
                     "en": "Reply to the user's small talk with one short, friendly English sentence. State no facts."}
SMALL_TALK_TOKENS = 40


# A question about the assistant itself ("你能做什么", "what can you do"): addressed to "you", about abilities. Only
# such a part may be answered by assistant.capabilities: "这个手表有什么功能" asks about a watch, "我能做什么" about me.
_ABOUT_ASSISTANT = re.compile(
    r"(?:你|您)(?:都|还|到底)?(?:能|会|可以)(?:帮我|为我|帮忙)?(?:做|干|提供)?些?(?:什么|啥|哪些)|"
    r"(?:你|您)(?:有|具备)(?:哪些|什么|啥)(?:功能|能力|本领|技能|用处)|(?:你|您)的(?:功能|能力|本领)|"
    r"\bwhat (?:can|could) you (?:do|help)|\bwhat (?:are|is) your (?:capabilities|features|abilities|skills)\b|"
    r"\bwhat do you do\b|\bwhat are you able to\b|\bhow can you help\b", re.I)


def asks_about_assistant(text: str) -> bool:
    return _ABOUT_ASSISTANT.search(text) is not None


def small_talk_act(text: str) -> str:
    """What a small-talk part does: ``thanks``, ``farewell``, ``how_are_you`` or ``greeting``."""
    if _THANKS.search(text):
        return "thanks"
    if _FAREWELL.search(text):
        return "farewell"
    if _HOW_ARE_YOU.search(text):
        return "how_are_you"
    return "greeting"


def classify(text: str) -> Kind:
    """The kind of one part of a request (a clause: the rule planner's parts are already split at connectives)."""
    t = " ".join(text.split())
    if _GREETING.match(t):
        return Kind.CONVERSATION
    if _REMIND.search(t):
        return Kind.ACTION if _CLOCK_TIME.search(t) else Kind.WRITING
    if _EN_ACTION.search(t):
        return Kind.ACTION
    if (_ZH_ACTION.search(t) or _ZH_BA_ACTION.search(t)) and not _ZH_HOW.search(t):
        return Kind.ACTION
    if _TRANSLATE.search(t):
        return Kind.TRANSLATION
    if _ZH_WRITING.search(t) or _EN_WRITING.search(t):
        return Kind.WRITING
    return Kind.QUESTION


def ask_words(text: str) -> tuple[str, str]:
    """What a translation asks, for matching it to tools: its verb, and the languages it names (its arguments).
    The rest is the material to translate, whatever tool its words would match."""
    verbs = " ".join(m.group(0) for m in _TRANSLATE.finditer(text))
    return verbs, " ".join(m.group(0) for m in _LANGUAGES.finditer(text))


# What an unsupported part's record says, in the plan (English; the composer words it in the reply's language).
REASON_ACTION = "no available tool can carry out this action"
REASON_FACT = "answering needs facts that no available tool provides"
REASON_TRANSLATION = "the built-in small model cannot be trusted to translate"
NEEDS_CAPABLE_MODEL = "a configured capable model (or a translation tool)"
NEEDS_TOOL = "a tool that does it"
NEEDS_TOOL_OR_MODEL = "a tool that provides it, or a configured capable model"


def unsupported_record(text: str, kind: Kind) -> dict[str, str]:
    """The plan's record of a part nothing available can do."""
    if kind == Kind.ACTION:
        return {"text": text, "reason": REASON_ACTION, "needs": NEEDS_TOOL}
    if kind == Kind.TRANSLATION:
        return {"text": text, "reason": REASON_TRANSLATION, "needs": NEEDS_CAPABLE_MODEL}
    return {"text": text, "reason": REASON_FACT, "needs": NEEDS_TOOL_OR_MODEL}
