"""A bilingual DEVELOPMENT set for the knowledge base: choose retrieval knobs here, never on ``kb_eval.py``.

Same shape as ``kb_eval.py`` (documents with sections; questions naming the file and a phrase only the answering
chunk contains) but other topics, other passages and other questions, written for choosing fusion settings and
candidate depths so the evaluation set stays untouched. Mixes paraphrase, exact identifiers and questions asked in
the other language, in about the same proportions. Pure data.
"""

from __future__ import annotations

DOCS: dict[str, str] = {
    "library.md": """# 图书馆规定

## 借阅期限
普通图书每次可借三十天，可以在到期前续借一次，续借期限为十五天。

## 逾期罚款
图书逾期归还每天每册罚款五角，罚款满二十元时借阅证将被暂停使用。

## 自习室
自习室每天早上八点开放，晚上十点半关闭，考试周延长到午夜。

## 遗失赔偿
遗失图书需按原价的两倍赔偿，绝版书按五倍赔偿。
""",
    "car-rental.md": """# Car rental terms

## Driver requirements
Drivers must be at least 21 years old and have held a full licence for two years.

## Fuel policy
Cars are handed over with a full tank and must be returned full, or a refuelling fee of 80 yuan applies.

## Mileage
Rentals include 300 kilometres per day; each extra kilometre costs 1.2 yuan.

## Damage excess
The damage excess is 3,000 yuan unless the renter buys the zero-excess cover for 60 yuan a day.
""",
    "gym.md": """# 健身房会员

## 会员卡种类
年卡三千六百元，季卡一千二百元，月卡四百五十元，均可使用所有分店。

## 暂停会员
年卡会员每年可以申请冻结一次，最长冻结六十天，需要提供证明材料。

## 私教课程
私教课需要提前二十四小时预约，取消预约少于六小时将扣除一节课时。

## 储物柜
储物柜仅限当日使用，闭馆后未清空的柜子将被统一开启清理。
""",
    "cloud-storage.md": """# Cloud storage plans

## Quotas
The free plan has 15 GB of storage; the team plan has 2 TB shared across up to ten members.

## File versions
Previous versions of a file are kept for 30 days on the free plan and 180 days on the team plan.

## Sharing links
Sharing links can be protected with a password and expire after seven days by default.

## Error QX-507
Error QX-507 means the upload exceeded the single-file limit of 50 GB; split the file or use the desktop client.
""",
    "lab-safety.md": """# 实验室安全

## 防护装备
进入化学实验室必须穿实验服、戴护目镜，长发需要扎起。

## 危险品存放
易燃试剂必须存放在防爆柜中，每个柜子存量不得超过五十升。

## 事故上报
发生化学品泄漏时，应立即撤离并在十五分钟内拨打内线电话 6110 上报。

## 废液处理
废液按酸、碱、有机溶剂分类收集，每周三下午统一回收。
""",
    "visa.md": """# Business travel visas

## Invitation letters
Invitation letters for visiting partners are issued by the legal department within five working days.

## Passport validity
Passports must be valid for at least six months beyond the planned date of return.

## Form TR-12
Form TR-12 must be filed with HR before any trip longer than 90 days, for tax residency purposes.

## Per diem
The daily allowance abroad is 400 yuan, paid with the first salary after the trip.
""",
    "insurance.md": """# 员工保险

## 医疗保险
公司为员工缴纳补充医疗保险，门诊费用报销比例为百分之八十。

## 理赔材料
申请理赔需要提交病历、发票原件和费用清单，在就诊后六十天内提交。

## 家属保险
员工可以自费为配偶和子女加入团体保险，每人每年九百元。

## 意外险
出差期间的意外伤害由意外险承保，最高赔付五十万元。
""",
    "release.md": """# Software release process

## Code freeze
Code freeze starts on the Wednesday before each release; only blocker fixes are merged after that.

## Release numbering
Versions follow semantic versioning; a release candidate is tagged with the suffix -rc and a number.

## Rollback
If error rates double within an hour of a deploy, the on-call engineer rolls back without waiting for approval.

## Changelog
Every merged pull request must add a line to CHANGELOG.md under the Unreleased heading.
""",
    "parking.md": """# 停车管理

## 停车证
员工停车证每年一月统一办理，每人限登记一辆车。

## 访客车位
访客车位位于地下一层 B 区，需要前台提前登记车牌号。

## 电动车充电
地下二层有二十个充电桩，每次充电最长四小时，超时每小时收费十元。
""",
    "printing.md": """# Printing

## Quotas
Each employee may print 500 black-and-white pages a month; colour pages count as five.

## Secure release
Print jobs are held until you badge in at the printer, and are deleted after 24 hours.

## Paper jams
For a paper jam, open tray 2 and pull the sheet towards you; never use tools inside the printer.
""",
}

# Distractors: short unrelated passages, both languages, in one file.
NOISE: list[str] = [
    "秋天的香山红叶最美，十月中旬是最佳观赏时间。",
    "番茄炒蛋先炒鸡蛋盛出，再炒番茄，最后一起翻炒加盐。",
    "围棋起源于中国，棋盘有十九条横线和十九条竖线。",
    "太阳系中最大的行星是木星，它有九十多颗卫星。",
    "跑马拉松前一周应减少训练量，保证充足睡眠。",
    "西湖位于杭州市区西面，有断桥、苏堤等景点。",
    "The Amazon river carries more water than any other river in the world.",
    "Sourdough bread rises with wild yeast and lactic acid bacteria instead of baker's yeast.",
    "Chess players in tournaments usually record every move on a score sheet.",
    "Honeybees communicate the location of flowers with a waggle dance.",
    "The violin has four strings tuned in perfect fifths.",
    "Regular stretching after exercise can reduce muscle stiffness the next day.",
]

QUESTIONS: list[tuple[str, str, str]] = [
    # Chinese about Chinese documents
    ("图书能借多久", "library.md", "三十天"),
    ("书还晚了要罚多少钱", "library.md", "五角"),
    ("书弄丢了怎么赔", "library.md", "两倍"),
    ("健身年卡多少钱", "gym.md", "三千六百元"),
    ("会员卡可以冻结吗", "gym.md", "冻结一次"),
    ("私教课怎么取消", "gym.md", "二十四小时"),
    ("化学品泄漏怎么办", "lab-safety.md", "6110"),
    ("实验室废液什么时候回收", "lab-safety.md", "每周三"),
    ("门诊费用能报销多少", "insurance.md", "百分之八十"),
    ("理赔要交哪些材料", "insurance.md", "发票原件"),
    ("访客停车在哪里", "parking.md", "B 区"),
    # English about English documents
    ("How old must I be to rent a car?", "car-rental.md", "21 years"),
    ("what happens if I return the car with an empty tank", "car-rental.md", "refuelling fee"),
    ("How much storage does the free plan have?", "cloud-storage.md", "15 GB"),
    ("QX-507", "cloud-storage.md", "QX-507"),
    ("When does code freeze start?", "release.md", "Wednesday"),
    ("who decides to roll back a bad deploy", "release.md", "on-call engineer"),
    ("Do I need to file TR-12?", "visa.md", "TR-12"),
    ("how many pages can I print per month", "printing.md", "500"),
    # Chinese about English documents
    ("租车每天包含多少公里", "car-rental.md", "300 kilometres"),
    ("免费版云盘的文件历史版本保存多久", "cloud-storage.md", "30 days"),
    ("分享链接默认多久过期", "cloud-storage.md", "seven days"),
    ("护照有效期需要多长", "visa.md", "six months"),
    ("出国出差每天补贴多少钱", "visa.md", "400 yuan"),
    ("打印机卡纸怎么处理", "printing.md", "tray 2"),
    ("发布前什么时候冻结代码", "release.md", "Wednesday"),
    ("租车的车损自付额是多少", "car-rental.md", "3,000 yuan"),
    # English about Chinese documents
    ("How long can I keep a library book?", "library.md", "三十天"),
    ("When does the study room close?", "library.md", "十点半"),
    ("What protective gear is required in the chemistry lab?", "lab-safety.md", "护目镜"),
    ("Can I add my children to the company insurance?", "insurance.md", "配偶和子女"),
    ("How long can I charge my electric car in the garage?", "parking.md", "四小时"),
    ("How much is a monthly gym membership?", "gym.md", "四百五十元"),
]
