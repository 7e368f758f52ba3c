"""A small bilingual retrieval set for choosing the embedding model: passages, and queries with their one answer.

Half the Chinese queries ask about English passages and half the English queries about Chinese ones, so a model
that only matches words in one language cannot do well. Pure data: no imports from the project.
"""

from __future__ import annotations

PASSAGES: list[str] = [
    # 0-11 Chinese
    "商品签收后七天内，未经使用且包装完好的，可申请无理由退货，运费由买家承担。",
    "员工每年享有十五天带薪年假，未休完的假期可以顺延到下一年第一季度。",
    "报销差旅费用时，需要在出差结束后三十天内提交发票和行程单。",
    "公司食堂早餐供应时间为七点到九点，午餐为十一点半到一点半。",
    "新员工入职第一周需要完成信息安全培训，并签署保密协议。",
    "北京地铁首班车一般在早上五点左右发车，末班车在晚上十一点左右。",
    "高血压患者应减少食盐摄入，每天不超过五克，并坚持适量运动。",
    "熊猫主要以竹子为食，每天要花十几个小时进食。",
    "会议室需要提前一天在内部系统中预订，超过两小时的会议需要主管批准。",
    "本产品的电池在正常使用下可以持续十二小时，充满电约需两小时。",
    "长城是中国古代的军事防御工程，总长度超过两万公里。",
    "如果忘记了登录密码，可以在登录页面点击“忘记密码”，通过绑定手机重置。",
    # 12-23 English
    "Items can be returned within 30 days of delivery for a full refund if they are unused.",
    "The office network requires two-factor authentication for every remote login.",
    "Our support team answers tickets Monday to Friday, 9 am to 6 pm Beijing time.",
    "Invoices are issued at the end of each month and are payable within 45 days.",
    "The API is rate limited to 100 requests per minute per key; excess requests get HTTP 429.",
    "Mount Everest is the highest mountain above sea level, at about 8,849 metres.",
    "Drinking enough water helps regulate body temperature and keeps joints lubricated.",
    "Python lists are ordered and mutable; tuples are ordered and immutable.",
    "The warranty covers manufacturing defects for two years but not accidental damage.",
    "To cancel a subscription, open Account Settings and choose Cancel Plan before the renewal date.",
    "Parking in the company garage is free for employees with a registered badge.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    # 24-35 distractors that share words with the answers but not their meaning
    "退货地址和退货单号需要在订单页面填写，仓库收到货后再审核。",
    "年假期间如遇紧急工作，主管可以联系员工，但不得强制返岗。",
    "Delivery usually takes three to five working days within mainland China.",
    "Remote workers should use the company VPN on public Wi-Fi networks.",
    "电池回收点设在一楼大厅，请勿将废旧电池扔进普通垃圾桶。",
    "Passwords must have at least twelve characters and be changed every ninety days.",
    "The subscription price increases by 5% at each annual renewal.",
    "熊猫基地的开放时间为早上七点半到下午五点。",
    "Subway tickets can be bought with a transport card or a mobile app.",
    "Salt is a common seasoning used in almost every cuisine.",
    "The company cafeteria offers vegetarian dishes every Wednesday.",
    "Refunds are sent to the original payment method within ten working days.",
]

# (query, index of the one passage that answers it)
QUERIES: list[tuple[str, int]] = [
    # Chinese → Chinese
    ("怎么退货？", 0),
    ("年假有多少天", 1),
    ("出差报销要在多长时间内提交", 2),
    ("午饭几点开始", 3),
    ("密码忘了怎么办", 11),
    ("大熊猫吃什么", 7),
    # Chinese → English
    ("远程登录需要什么验证", 13),
    ("客服的工作时间是什么时候", 14),
    ("接口每分钟最多能调用多少次", 16),
    ("世界最高的山有多高", 17),
    ("保修期多长", 20),
    ("如何取消订阅", 21),
    # English → English
    ("What is the refund window for unused items?", 12),
    ("When are invoices due?", 15),
    ("How do plants turn sunlight into energy?", 23),
    ("Is employee parking free?", 22),
    ("difference between a list and a tuple in Python", 19),
    ("why should I drink water", 18),
    # English → Chinese
    ("How long does the battery last?", 9),
    ("What should people with high blood pressure eat?", 6),
    ("When does the first subway train run in Beijing?", 5),
    ("How long is the Great Wall?", 10),
    ("How do I book a meeting room?", 8),
    ("What must new hires do in their first week?", 4),
]
