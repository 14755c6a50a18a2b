"""Everything a citizen reads that Python writes (the bot's Rasa responses stay in domain.yml).

Texts with blanks are ``str.format`` templates with named fields (``TOO_LONG.format(limit=500)``);
the code that fills them in keeps the logic, this module keeps the words. Staff-console text and log
messages are not here. Domain values that are labels rather than sentences (matter labels, dispute
types, status names, button titles) stay with their tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

# ---- Every channel: the gateway's refusals ----------------------------------------------------
EMPTY = "请输入您想咨询的问题。"
TOO_FAST = "您发消息太快了，请稍等几秒再发。刚才这条没有收到，请重新发送。"
#: ``limit``: the most characters one message may have.
TOO_LONG = "消息太长了，请分几次发送（每次不超过{limit}字）。"
TRY_LATER = "系统繁忙，请稍后再试：刚才这条没有收到，请过一会儿重新发送。之前说的内容都还在；着急的话可以拨打12348。"


# ---- Privacy notice (with the first reply, PIPL art. 17) --------------------------------------
PRIVACY_NOTICE = (
    "【个人信息保护提示】为了解答您的问题、办理法律援助申请和调解预约，本服务会记录您发来的消息，"
    "以及您填写的姓名、电话、住址等信息，只用于办理您的事项和不含个人身份的统计。"
    "聊天记录保存{chat_days}天，办结的申请和预约保存{case_days}天，到期自动删除。"
    "您可以随时要求查阅、更正或删除您的个人信息：回复“转人工”告诉工作人员即可。"
    "有疑问可以拨打12348公共法律服务热线。"
)


def privacy_notice(settings: Settings) -> str:
    """What a citizen is told with the first reply (PIPL art. 17): what is collected, why, for how
    long, how to have it erased, and whom to ask."""
    chats = max(settings.retain_tracker_days, settings.retain_transcript_days)
    return PRIVACY_NOTICE.format(chat_days=chats, case_days=settings.retain_case_days)


# ---- Answers (actions/answers.py) -------------------------------------------------------------
FAQ_ANSWER = '{answer}\n\n法律依据：{basis}\n（回复"法律依据"可查看条文原文）'
ARTICLE = "{label}：\n{text}"
DID_YOU_MEAN = "您是想问："
RELATED_ARTICLES = "我没有找到正好回答您这个问题的解答。下面是可能相关的法律规定，仅供参考，不是对您情况的完整解答："
RELATED_HANDOFF = "您的情况最好由工作人员具体看一看，也可以拨打12348法律服务热线。"
#: Which of two close topics: ``first``, ``second`` are topic labels.
WHICH_TOPIC = "您问的是{first}方面，还是{second}方面的事？"
#: ``hint``: WHICH_TOPIC or "".
ASK_DETAILS = "我还没找到合适的答案。{hint}能再具体说说吗？比如发生了什么、和谁、涉及多少钱。"
NO_ANSWER_HANDOFF = (
    "这个问题比较具体，我这里没有合适的现成解答，不想给您不准的说法。我帮您转给工作人员；也可以拨打12348法律服务热线。"
)
# Follow-ups ("那需要什么材料"): ``about`` is the question answered before, ``fact`` a FACT_TITLES value.
FOLLOW_UP_SOURCE = "（见“{question}”）"
FOLLOW_UP_FACT = "关于“{about}”，{fact}{source}：\n{text}"
FOLLOW_UP_THIS = "这个情况"
FOLLOW_UP_UNKNOWN = (
    "关于“{about}”，{what}我这里没有确切的说法，以办理窗口告知为准。"
    "可以转给工作人员帮您问清楚，也可以拨打12348法律服务热线。"
)
ASK_QUESTION = "请直接说说您的问题，我来帮您查。"
ASK_BEFORE_BASIS = "请先告诉我您想了解的问题，我回答后可以给您看法律依据。"


# ---- Forms: legal-aid intake and mediation booking (actions/forms.py) -------------------------
NOT_SAVED = "抱歉，系统暂时没能保存，您填写的内容都还在。请过一会儿再点“对，提交”重试；着急的话可以拨打12348。"
MATTER_OUT_OF_SCOPE = "这类事项不一定属于法律援助范围，您可以先登记，工作人员审核后告诉您结果。"
START_AGAIN = "好的，我们重新填写一遍。"
#: ``committee``: the mediation committee's name.
CHOOSE_SLOT = "由{committee}为您调解。请选择时间（回复数字）："
CHOOSE_WISHED_SLOT = "由{committee}为您调解。请选择时间（回复数字）。这是您希望的时间，调解委员会会电话和您确认："
SLOT_TAKEN = "抱歉，这个时间刚被约满了，请重新选一个时间。"
#: The deadline when the citizen gives none (also the slot's value then).
NO_DEADLINE = "无"


# ---- Legal-aid pre-check and application (bot/services/eligibility.py, intake.py) -------------
# Eligibility notes; ``basis`` is the article that covers the matter.
NOTE_OUT_OF_SCOPE = "该事项不一定属于法律援助范围，工作人员会审核后告诉您结果"
NOTE_NOT_MEANS_TESTED = "属于{basis}规定的情形，不受经济困难条件限制"
NOTE_EXEMPT_GROUP = "属于{basis}规定的事项；您属于特定困难群体，可免予核查经济困难状况（第四十二条）"
NOTE_EXEMPT_MIGRANT = "属于{basis}规定的事项；进城务工人员讨薪或工伤索赔可免予核查经济困难状况（第四十二条）"
NOTE_MEANS_TESTED = "属于{basis}规定的事项，需要经济困难（可以书面承诺，第四十一条）"
NOTE_UNKNOWN_MATTER = "工作人员会审核是否属于法律援助范围"

LEGAL_AID_READ_BACK = (
    "请核对您的法律援助申请：\n"
    "事项：{matter}\n"
    "姓名：{name}\n"
    "电话：{phone}\n"
    "地址：{address}\n"
    "对方：{opponent}\n"
    "经过：{facts}\n"
    "期限：{deadline}\n"
    "经济情况：{economic_status}\n"
    "初步判断：{note}\n"
    "信息对吗？"
)
#: The centre's name when the directory has none.
LEGAL_AID_CENTRE = "法律援助中心"
LEGAL_AID_PLACE = "{where}（地址：{address}）"
LEGAL_AID_PLACE_UNKNOWN = "{where}或您所在乡镇的{office}（地址可拨打12348咨询）"
#: ``documents``: one numbered line per document.
LEGAL_AID_SUBMITTED = (
    "已提交！受理编号：{reference}\n"
    "法律援助机构会在收到申请后7日内审查并作出决定（《法律援助法》第四十三条），工作人员会打电话或在这里联系您。\n"
    "请带好以下材料到{place}：\n{documents}\n"
    "查询进度时发送受理编号即可。"
)


# ---- Mediation booking (bot/services/mediation.py) --------------------------------------------
#: Monday first, as ``datetime.weekday()`` counts.
WEEKDAY_NAMES = "一二三四五六日"
#: ``weekday``: a WEEKDAY_NAMES character; ``time``: HH:MM.
SLOT_LABEL = "{month}月{day}日（周{weekday}）{time}"
SLOT_TIME = "时间：{label}"
SLOT_WISHED_TIME = "希望的时间：{label}（以调解委员会电话确认的时间为准）"
MEDIATION_READ_BACK = (
    "请核对您的调解预约：\n"
    "纠纷类型：{dispute_type}\n"
    "对方：{parties}\n"
    "地点：{address}\n"
    "情况：{facts}\n"
    "姓名：{name}\n"
    "电话：{phone}\n"
    "调解组织：{committee}\n"
    "{time_line}\n"
    "信息对吗？"
)
BOOKED = "预约成功！"
BOOKING_SUBMITTED = "调解预约已提交！"
#: ``head``: BOOKED or BOOKING_SUBMITTED; ``time_line``: SLOT_TIME or SLOT_WISHED_TIME.
MEDIATION_SUBMITTED = (
    "{head}预约编号：{reference}\n"
    "调解组织：{committee}\n{time_line}\n"
    "人民调解不收费，双方自愿参加。调解员会先电话和您确认；请带上身份证和相关材料（照片、协议、借条等）。\n"
    "查询进度时发送预约编号即可。"
)


# ---- People: handoff, emergencies, status (actions/handoff.py, bot/services/handoff.py) -------
# Office hours; ``first``, ``last``, ``day`` are WEEKDAY_NAMES characters.
HOURS_UNKNOWN = "以当地司法局公布的时间为准"
WEEKDAY_SPAN = "周{first}至周{last}"
WEEKDAY = "周{day}"
WEEKDAY_SEPARATOR = "、"
OFFICE_HOURS = "{days} {start}-{end}"
# When a person will answer; ``hours``: OFFICE_HOURS or HOURS_UNKNOWN, ``when``: OPENING or NEXT_WORKDAY.
EXPECT_IN_HOURS = "工作人员会在工作时间内尽快回复您"
EXPECT_SOON = "现在是工作时间，工作人员会尽快回复您"
OPENING = "{month}月{day}日 {time}"
NEXT_WORKDAY = "下一个工作日"
EXPECT_LATER = "现在不是工作时间（{hours}），工作人员会在{when}以后回复您"
# ``expectation``: one of the EXPECT_ texts.
ESCALATED = (
    "好的，已为您转接人工，{expectation}，回复会出现在这里。"
    "您之前说的内容都已转给工作人员。着急的话也可以拨打12348法律服务热线。"
)
WAITING_NOTICE = (
    "您的消息已转给工作人员，请耐心等待，{expectation}。"
    "在人工回复之前，小助手先不回答。紧急情况请拨打110；法律咨询也可拨打12348。"
)
OVERDUE_NOTICE = "暂时还没有工作人员接待，{expectation}，请留意这里的消息。着急的话可以拨打12348法律服务热线。"
CLAIMED_NOTICE = "工作人员已接入，请直接说明您的情况。"
CLOSED_NOTICE = "人工服务已结束，感谢您的耐心。小助手继续为您服务，有问题可以直接问我。"
#: The bot's answer to an emergency.
EMERGENCY_ADVICE = (
    "请先保证自己的安全！\n"
    "有危险、正在被打或被威胁：马上拨打 110 报警。\n"
    "有人受伤、服药或想不开：马上拨打 120 急救。\n"
    "遭受家庭暴力的妇女可拨打 12338 妇女维权热线。\n"
    "我已通知工作人员优先处理您的情况。"
)
#: Emergency words while a person has the conversation (the bot is paused).
EMERGENCY_NOTICE = (
    "请先保证自己的安全！有危险、正在被打或被威胁：马上拨打 110；有人受伤、服药或想不开：马上拨打 120。"
    "已通知工作人员优先处理。"
)
# Status checks; ``reference``: LA-… or MB-….
NO_SUCH_REFERENCE = '没有查到编号 {reference}，请核对后再发一次，或回复"转人工"。'
PRIVATE_STATUS = (
    "为了保护申请人的隐私，办理进度只在提交申请或预约的那个对话里告知；"
    "在其他地方查询，请在同一条消息里写上编号和申请时所留手机号码的后四位，中间空一格，"
    "例如：查询进度 {reference} 5678（把5678换成您的手机号后四位）。也可以回复“转人工”。"
)
LEGAL_AID_APPLICATION = "法律援助申请"
MEDIATION_BOOKING = "调解预约"
#: ``kind``: LEGAL_AID_APPLICATION or MEDIATION_BOOKING; ``status``: a STATUS_LABELS value.
STATUS = "{kind} {reference}：{status}。"
GO_ON = "好的，请继续说。"
RESUMED = "好的，我们继续。"


# ---- Telegram (bot/channels/telegram.py) ------------------------------------------------------
TELEGRAM_HELP = (
    "直接用文字输入您想咨询的问题就可以，例如：“老板拖欠工资怎么办”“离婚后孩子归谁”。\n"
    "我给出选项时，点下面的按钮或回复选项的数字都可以。\n"
    "/human 转人工，请工作人员和您联系\n"
    "/cancel 取消正在办理的事项\n"
    "/status 查询法律援助申请或调解预约的进度（需要受理编号，例如 /status LA-20261126-0001）\n"
    "遇到家暴、人身威胁等紧急情况，请立即拨打110；需要急救请拨打120。"
)
TELEGRAM_ONLY_TEXT = (
    "抱歉，我目前只能看懂文字消息，图片、语音、文件、位置等还看不了。"
    "请用文字把您的问题打出来，例如“老板拖欠工资怎么办”。材料和照片可以等工作人员联系您时再提供。"
    "发送 /help 查看使用说明。"
)
OTHERS_CONTACT = "为了保护他人的隐私，这里只接收您本人的手机号码。请点“分享我的手机号”按钮，或直接输入您的手机号码。"
EXPIRED_BUTTON = "抱歉，这个按钮已经失效了。请直接输入您要选的内容（选项的文字或数字都可以）。"
#: Above buttons that come without a text.
TELEGRAM_CHOOSE = "请选择："
SHARE_PHONE = "分享我的手机号"


# ---- WeChat (bot/channels/wechat.py) ----------------------------------------------------------
#: Above the numbered options that stand for buttons.
WECHAT_CHOOSE = "回复数字选择："
VOICE_NOT_RECOGNISED = "抱歉，这条语音没能识别出文字。请直接输入文字描述您的问题，例如：“老板拖欠工资怎么办”。"
WECHAT_TEXT_ONLY = (
    "您好，我目前只能看懂文字和语音消息，暂时无法查看图片、视频、位置或链接。"
    "请用文字描述您遇到的问题：我可以解答常见法律问题、帮您申请法律援助、预约人民调解，或为您转接工作人员。"
)


# ---- Web chat errors (bot/web/app.py, bot/web/limits.py) --------------------------------------
BAD_REQUEST = "请求格式不正确，请刷新页面后重试。"
NOT_FOUND = "没有这个页面。"
METHOD_NOT_ALLOWED = "不支持这种请求方式。"
TOO_LARGE = "请求内容太大。"
UNSAVABLE = "填写的内容无法保存（含有空字符，或者太长），请修改后重试。"
STORAGE_DOWN = "数据库暂时无法访问，请稍后再试。已经保存的内容不会丢失。"
NO_CONVERSATION = "还没有开始对话。"
NOT_THIS_DEVICE = "无法确认这是本设备上的对话，请刷新页面，开始新的对话。"
