"""A bilingual knowledge-base evaluation set: documents with sections, and questions whose answer is known.

Each question names the file and a phrase that only the answering chunk contains. The questions mix paraphrase
(where meaning matters), exact identifiers (error codes, SKUs, names: where words matter) and questions asked in
the other language. Written once, by hand, before any retrieval method was run on it. Pure data.
"""

from __future__ import annotations

DOCS: dict[str, str] = {
    "returns.md": """# 售后服务

## 退货政策
商品签收后七天内，未经使用且包装完好的，可以申请无理由退货。定制商品不支持无理由退货。

## 退款时效
仓库收到退货并验收后，退款会在三个工作日内原路退回到支付账户。

## 运费
因质量问题退货，来回运费由公司承担；因个人原因退货，寄回运费由买家承担。

## 换货
尺码或颜色不合适可以免费换货一次，换货需在签收后十五天内申请。
""",
    "shipping.md": """# Shipping

## Dispatch
Orders placed before 4 pm Beijing time are dispatched the same working day.

## Delivery times
Delivery takes three to five working days within mainland China and seven to fourteen days abroad.

## Remote areas
Deliveries to Xinjiang and Tibet take up to ten working days and cost an extra 15 yuan.

## Tracking
A tracking number is sent by SMS once the parcel leaves the warehouse.
""",
    "handbook.md": """# 员工手册

## 工作时间
标准工作时间为周一至周五上午九点到下午六点，午休一小时。

## 年假
员工每年享有十五天带薪年假，未休完的年假可以顺延到下一年第一季度。

## 病假
病假需要提供医院证明，每年前五天病假全额发放工资。

## 远程办公
每周最多可以申请两天远程办公，需要提前一天经主管批准。

## 差旅报销
出差结束后三十天内提交发票和行程单，超过期限的费用不予报销。
""",
    "it-security.md": """# IT security

## Passwords
Passwords must have at least twelve characters and are rotated every ninety days.

## Two-factor authentication
Every remote login to the office network requires two-factor authentication with the company app.

## Lost devices
Report a lost laptop or phone to the IT desk at extension 8110 within two hours so it can be wiped.

## VPN
Use the company VPN whenever you work from a café, hotel or any public Wi-Fi network.
""",
    "errors.md": """# 设备故障代码

## E1023
E1023 表示水箱缺水，请加水后重新开机。

## E2040
E2040 表示电机过热，请断电冷却三十分钟后再使用。

## E3301
E3301 表示滤网堵塞，请取出滤网用清水冲洗并晾干。

## E4500
E4500 表示主板通信故障，请联系售后服务中心维修。
""",
    "warranty.md": """# Warranty

## Coverage
All devices carry a two-year warranty against manufacturing defects from the date of purchase.

## Exclusions
Accidental drops, water damage and repairs by unauthorised shops are not covered by the warranty.

## How to claim
Send the device with the original receipt to the service centre in Shenzhen; repairs take about a week.
""",
    "products.md": """# 产品目录

## SKU-4471 静音小风扇
SKU-4471 静音小风扇售价五十九元，三档风速，USB 供电。

## SKU-5820 护眼台灯
SKU-5820 护眼台灯售价一百二十九元，支持无极调光和色温调节。

## SKU-6093 空气净化器
SKU-6093 空气净化器售价一千二百九十九元，适用面积四十平方米。
""",
    "meetings.md": """# Meeting rooms

## Booking
Book meeting rooms in the intranet calendar at least one day ahead; meetings over two hours need a manager's approval.

## Equipment
Every room on the fifth floor has a projector and a video-conference camera.

## Cancellations
Cancel unused bookings so others can take the room; three no-shows in a month suspend booking rights.
""",
    "canteen.md": """# 食堂

## 开放时间
早餐七点到九点，午餐十一点半到一点半，晚餐五点半到七点。

## 餐补
普通员工每天餐补八十元，经理每天餐补一百二十元，餐补只能在食堂使用。

## 素食
每周三供应全素套餐，其他日子也有至少两道素菜。
""",
    "subscriptions.md": """# Subscriptions

## Plans
The Basic plan costs 30 yuan a month and the Pro plan 80 yuan a month, billed monthly.

## Cancelling
Open Account Settings and choose Cancel Plan before the renewal date to avoid the next charge.

## Price changes
Subscription prices may rise by up to five percent at each annual renewal, announced thirty days ahead.
""",
}

# (question, file, a phrase only the answering chunk contains)
QUESTIONS: list[tuple[str, str, str]] = [
    ("我们的退货政策是什么？", "returns.md", "无理由退货"),
    ("退款多久能到账", "returns.md", "三个工作日"),
    ("质量问题退货运费谁出", "returns.md", "来回运费"),
    ("衣服尺码不对可以换吗", "returns.md", "免费换货"),
    ("When will my order be shipped?", "shipping.md", "4 pm"),
    ("寄到新疆要多久", "shipping.md", "Xinjiang"),
    ("how do I track my parcel", "shipping.md", "tracking number"),
    ("年假有几天", "handbook.md", "十五天"),
    ("Can I work from home?", "handbook.md", "远程办公"),
    ("出差的发票什么时候交", "handbook.md", "三十天内"),
    ("病假工资怎么算", "handbook.md", "全额"),
    ("密码多长时间要换一次", "it-security.md", "ninety days"),
    ("I lost my laptop, what should I do?", "it-security.md", "8110"),
    ("在咖啡馆办公需要注意什么", "it-security.md", "VPN"),
    ("E2040 是什么意思", "errors.md", "E2040"),
    ("What does error E3301 mean?", "errors.md", "E3301"),
    ("机器提示缺水", "errors.md", "E1023"),
    ("Is water damage covered?", "warranty.md", "water damage"),
    ("保修多久", "warranty.md", "two-year"),
    ("where do I send a broken device", "warranty.md", "Shenzhen"),
    ("SKU-5820 多少钱", "products.md", "SKU-5820"),
    ("How much is the quiet fan?", "products.md", "五十九元"),
    ("净化器适合多大房间", "products.md", "四十平方米"),
    ("会议室怎么预订", "meetings.md", "intranet calendar"),
    ("Which rooms have a projector?", "meetings.md", "projector"),
    ("what happens if I don't show up to my booking", "meetings.md", "no-shows"),
    ("What time is lunch served?", "canteen.md", "十一点半"),
    ("经理的餐补是多少", "canteen.md", "一百二十元"),
    ("有素食吗", "canteen.md", "全素"),
    ("Pro 套餐每月多少钱", "subscriptions.md", "Pro plan"),
    ("如何取消订阅", "subscriptions.md", "Cancel Plan"),
    ("will the subscription get more expensive", "subscriptions.md", "five percent"),
]
