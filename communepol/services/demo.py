"""The demo: what a newcomer sees first.

A fresh SQLite file with the real units of Đắk Lắk, information pages for three of its real
communes, a province supervisor and commune officers on the roster (one on duty), a buôn
with households — five of them sharing one account, as Đắk Lắk's villages do — residents
following the pages, and posts: published warnings and procedures, one post scheduled a few
minutes ahead and one that recurs every Monday morning. Everything goes through the same
services the product uses; the people are invented, the places are real.

Tips too: a fight reported with its place (critical, acknowledged and answered), a fraud whose
victim gave the bank and the amount (routed to the province's cyber desk as well), three
forwards of one rumour clustered together, and a gambling tip left unanswered past its
deadline, which the ticker escalates to the province supervisor when the demo starts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    ConsentPurpose,
    Contact,
    DutyShift,
    Follow,
    FollowStatus,
    Page,
    Post,
    PostCategory,
    PostStatus,
    PostTranslation,
    Role,
    RoutingRule,
    ScheduleKind,
    Staff,
    Tip,
    TipCategory,
    Unit,
    UnitLevel,
)
from communepol.db.orm import migrate, open_database
from communepol.i18n import I18n
from communepol.schedule import next_occurrence
from communepol.services import audit, householdgroups
from communepol.services.alerts import AlertInput, Alerts, create_alert
from communepol.services.channels import carry_page, create_channel_account
from communepol.services.contacts import (
    ContactIdentity,
    find_or_create_contact,
    record_consent,
)
from communepol.services.households import add_household
from communepol.services.staff import add_staff, generate_password
from communepol.services.tips import TipInput, Tips
from communepol.services.units import add_hamlet, import_units, resolve_unit
from communepol.settings import Settings

DEMO_DATABASE_FILE = "communepol-demo.sqlite3"
DEMO_PROVINCE = "66"  # Đắk Lắk
CONSENT_TEXT_VERSION = "demo-2026-11"

# (search name, page slug, page title, followers)
DEMO_PAGES = (
    ("ea kar", "ca-xa-ea-kar", "Công an xã Ea Kar", 7),
    ("cu mgar", "ca-xa-cu-mgar", "Công an xã Cư M'gar", 9),
    ("krong pac", "ca-xa-krong-pac", "Công an xã Krông Pắc", 5),
)

# (name, commune search name, on duty)
DEMO_OFFICERS = (
    ("Y Bhim Niê", "cu mgar", True),
    ("H'Nga Mlô", "cu mgar", False),
    ("Nguyễn Văn Tâm", "ea kar", True),
    ("Trần Quốc Bảo", "krong pac", True),
)

# (head of household, members, address); the first five share one account.
DEMO_HOUSEHOLDS = (
    ("Y Kông Êban", 6, "Nhà 3, buôn Ea Sinh"),
    ("H'Luyến Kbuôr", 4, "Nhà 5, buôn Ea Sinh"),
    ("Y Sơn Mlô", 7, "Nhà 8, buôn Ea Sinh"),
    ("H'Ngăm Niê", 3, "Nhà 11, buôn Ea Sinh"),
    ("Y Dhăm Ayŭn", 5, "Nhà 12, buôn Ea Sinh"),
    ("Lê Văn Cường", 4, "Nhà 20, buôn Ea Sinh"),
    ("Phạm Thị Lan", 2, "Nhà 23, buôn Ea Sinh"),
    ("Y Wang Byă", 8, "Nhà 27, buôn Ea Sinh"),
)


@dataclass
class DemoReport:
    base_url: str
    timezone: str
    communes_loaded: int = 0
    pages: list[tuple[str, str]] = field(default_factory=list)  # (title, slug)
    supervisor_username: str = ""
    supervisor_password: str = ""
    officer_codes: list[tuple[str, str, str]] = field(default_factory=list)  # name, unit, code
    households: int = 0
    shared_households: int = 0
    group_code: str = ""
    scheduled_title: str = ""
    scheduled_at: datetime | None = None
    alert_identifier: str = ""
    tips: int = 0
    tip_references: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        url = self.base_url
        lines = [
            "",
            "communepol demo — Đắk Lắk",
            "=" * 26,
            f"{self.communes_loaded} real communes and wards of Đắk Lắk loaded from the 2025 "
            "two-tier list.",
            "Information pages (each with a web chat to the station; try /start, /help):",
        ]
        lines += [f"  {title:<28} {url}/p/{slug}" for title, slug in self.pages]
        if self.pages:
            slug = self.pages[0][1]
            lines.append(f"Follow poster with QR codes:   {url}/p/{slug}/poster")
        lines += [
            f"All pages:                     {url}/",
            "",
            f"Province supervisor, admin web {url}/admin/ (a supervisor enrols an "
            "authenticator app at the first sign-in):",
            f"  username {self.supervisor_username}   password {self.supervisor_password}",
            "Commune officers and their one-time bot link codes (send the code to the bot):",
        ]
        lines += [f"  {name:<18} {unit:<24} {code}" for name, unit, code in self.officer_codes]
        lines += [
            "",
            f"Buôn Ea Sinh (Xã Cư M'gar): {self.households} households; "
            f"{self.shared_households} of them share one account and have each agreed.",
        ]
        if self.group_code:
            lines.append(
                f"The other 3 wait for their representative: send /link {self.group_code} in "
                "the web chat of Xã Cư M'gar's page, then confirm each household."
            )
        if self.scheduled_at is not None:
            lines.append(
                f"Scheduled post on the Cư M'gar page: '{self.scheduled_title}', due "
                f"{self.scheduled_at:%H:%M} ({self.timezone}): the ticker publishes it then to "
                "the page's followers; a Monday 07:00 reminder recurs on Krông Pắc."
            )
        if self.alert_identifier:
            alert = f"{url}/a/{self.alert_identifier}"
            lines.append(f"A missing-person alert on Krông Pắc: {alert}")
            lines.append(f"  the same as a CAP 1.2 document:  {alert}/cap.xml")
        if self.tips:
            lines += [
                "",
                f"Tips: {self.tips} sent by residents ({', '.join(self.tip_references)}). "
                "Link an officer's code in a bot, then /duty on, /tips, /tips overdue;",
                "  residents report with /tip (or just write) and follow theirs with /mytips.",
            ]
        lines += [
            "",
            f"Health {url}/healthz · readiness {url}/readyz · metrics {url}/metrics",
        ]
        return lines


def demo_database_url(workdir: Path) -> str:
    return f"sqlite://{workdir / DEMO_DATABASE_FILE}"


def _remove_sqlite_files(database_url: str) -> None:
    path = Path(database_url.removeprefix("sqlite://").partition("?")[0])
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


async def build_demo(settings: Settings) -> DemoReport:
    """Build the demo database from nothing (an existing demo SQLite file is replaced)."""
    if settings.is_sqlite:
        _remove_sqlite_files(settings.database_url)
    report = DemoReport(base_url=settings.public_base_url, timezone=settings.timezone)
    keyring = Keyring(settings.secret_key)
    async with open_database(settings.database_url, create=True) as ctx:
        await migrate(ctx)
        await import_units(DEMO_PROVINCE)
        report.communes_loaded = await Unit.filter(level=UnitLevel.COMMUNE).count()
        await _seed(settings, keyring, report)
        await audit.record("demo.built", actor_label="demo", source="cli")
    return report


async def _seed(settings: Settings, keyring: Keyring, report: DemoReport) -> None:
    now = utcnow()
    province = await resolve_unit(DEMO_PROVINCE, level=UnitLevel.PROVINCE)
    webchat = await create_channel_account(keyring, kind=ChannelKind.WEBCHAT, name="Web chat")

    pages: dict[str, Page] = {}
    communes: dict[str, Unit] = {}
    resident = 0
    for search, slug, title, followers in DEMO_PAGES:
        commune = await resolve_unit(search, level=UnitLevel.COMMUNE)
        communes[search] = commune
        page = await Page.create(
            unit=commune,
            slug=slug,
            title=title,
            description=(
                f"Trang thông tin của {title}: cảnh báo tội phạm, lừa đảo, thủ tục hành chính "
                "và tiếp nhận tin báo của người dân."
            ),
            approval_categories=[PostCategory.MISSING_PERSON.value],
        )
        await carry_page(webchat, page)
        pages[search] = page
        report.pages.append((title, slug))
        for _ in range(followers):
            resident += 1
            contact, _created = await find_or_create_contact(
                keyring,
                webchat,
                ContactIdentity(f"demo-resident-{resident}"),
                locale="vi" if resident % 4 else "en",
            )
            await _follow(contact, page)

    password = generate_password()
    supervisor = await add_staff(
        keyring,
        full_name="Lê Thị Hồng Nhung",
        unit=province,
        role=Role.SUPERVISOR,
        phone="0905 123 456",
        username="giamsat",
        password=password,
        source="demo",
    )
    report.supervisor_username = "giamsat"
    report.supervisor_password = password

    for name, search, on_duty in DEMO_OFFICERS:
        enrolment = await add_staff(
            keyring,
            full_name=name,
            unit=communes[search],
            role=Role.OFFICER,
            created_by=supervisor.staff,
            source="demo",
        )
        report.officer_codes.append((name, communes[search].name, enrolment.link_code))
        if on_duty:
            await DutyShift.create(
                staff=enrolment.staff, unit=communes[search], started_at=now - timedelta(hours=2)
            )

    await _households(keyring, webchat, communes["cu mgar"], supervisor.staff, report)
    await _posts(settings, pages, supervisor.staff, now, report)
    await _alert(settings, pages["krong pac"], supervisor.staff, now, report)
    await _tips(keyring, webchat, province, communes, supervisor.staff, report)


async def _follow(contact: Contact, page: Page) -> None:
    await Follow.create(page=page, contact=contact, status=FollowStatus.ACTIVE, source="qr")
    await record_consent(
        contact, ConsentPurpose.FOLLOW, granted=True, text_version=CONSENT_TEXT_VERSION, locale="vi"
    )


async def _households(
    keyring: Keyring, webchat: ChannelAccount, commune: Unit, officer: Staff, report: DemoReport
) -> None:
    """Buôn Ea Sinh's households: five share one account (linked and each confirmed, through
    the same service the bot uses), three more wait in a group whose code the demo prints."""
    hamlet = await add_hamlet(commune, "Ea Sinh", kind="Buôn")
    households = [
        await add_household(
            officer,
            hamlet.id,
            head_name=head,
            members_count=members,
            address=address,
            source="demo",
        )
        for head, members, address in DEMO_HOUSEHOLDS
    ]
    representative, _ = await find_or_create_contact(
        keyring,
        webchat,
        ContactIdentity("demo-shared-ea-sinh", display_name="Y Kông Êban"),
        locale="vi",
    )
    _, issued = await householdgroups.create_group(
        keyring,
        officer,
        commune.id,
        "Nhóm 5 hộ buôn Ea Sinh",
        [h.id for h in households[:5]],
        source="demo",
    )
    view = await householdgroups.link_representative(keyring, representative, issued.code)
    for member in view.members:
        await householdgroups.confirm_member(representative, member.id, agreed=True)
    for page in await householdgroups.pages_to_follow(representative, commune):
        await _follow(representative, page)
    _, waiting = await householdgroups.create_group(
        keyring,
        officer,
        commune.id,
        "Nhóm 3 hộ buôn Ea Sinh",
        [h.id for h in households[5:]],
        source="demo",
    )
    report.households = len(households)
    report.shared_households = 5
    report.group_code = waiting.code


async def _post(
    page: Page,
    author: Staff,
    category: PostCategory,
    status: PostStatus,
    vi: tuple[str, str],
    en: tuple[str, str] | None = None,
    *,
    published_at: datetime | None = None,
    next_run_at: datetime | None = None,
    cron_expression: str | None = None,
) -> Post:
    if cron_expression:
        schedule_kind = ScheduleKind.CRON
    elif next_run_at:
        schedule_kind = ScheduleKind.ONCE
    else:
        schedule_kind = ScheduleKind.NOW
    post = await Post.create(
        page=page,
        category=category,
        status=status,
        author=author,
        schedule_kind=schedule_kind,
        published_at=published_at,
        next_run_at=next_run_at,
        cron_expression=cron_expression,
    )
    await PostTranslation.create(post=post, locale="vi", title=vi[0], body=vi[1])
    if en is not None:
        await PostTranslation.create(post=post, locale="en", title=en[0], body=en[1])
    return post


async def _posts(
    settings: Settings, pages: dict[str, Page], author: Staff, now: datetime, report: DemoReport
) -> None:
    await _post(
        pages["ea kar"],
        author,
        PostCategory.FRAUD_WARNING,
        PostStatus.PUBLISHED,
        (
            "Cảnh báo: giả danh công an gọi điện yêu cầu chuyển tiền",
            "Công an không bao giờ gọi điện yêu cầu người dân chuyển tiền, cung cấp mã OTP "
            "hay cài ứng dụng lạ. Nếu bị lừa chuyển tiền, hãy gọi ngay ngân hàng để phong toả "
            "tài khoản và báo cho công an xã qua trang này.",
        ),
        (
            "Warning: callers posing as police asking for money transfers",
            "The police never call to ask you to transfer money, give an OTP code or install "
            "an app. If you sent money, call your bank at once to freeze the account, then "
            "tell the commune police through this page.",
        ),
        published_at=now - timedelta(days=1, hours=3),
    )
    await _post(
        pages["cu mgar"],
        author,
        PostCategory.PROCEDURE,
        PostStatus.PUBLISHED,
        (
            "Hướng dẫn đăng ký thường trú trực tuyến",
            "Người dân có thể nộp hồ sơ đăng ký thường trú qua Cổng dịch vụ công quốc gia. "
            "Chuẩn bị: căn cước, giấy tờ chứng minh chỗ ở hợp pháp. Cán bộ công an xã hỗ trợ "
            "tại trụ sở vào giờ hành chính.",
        ),
        (
            "How to register permanent residence online",
            "Residents can file for permanent residence on the National Public Service Portal. "
            "Bring your ID card and proof of lawful residence; officers help at the commune "
            "office during working hours.",
        ),
        published_at=now - timedelta(hours=20),
    )
    scheduled_at = (now + timedelta(minutes=5)).replace(second=0, microsecond=0)
    scheduled_title = "Họp dân buôn Ea Sinh về an ninh trật tự"
    await _post(
        pages["cu mgar"],
        author,
        PostCategory.ANNOUNCEMENT,
        PostStatus.SCHEDULED,
        (
            scheduled_title,
            "Tối thứ Bảy, 19:00, tại nhà văn hoá buôn Ea Sinh: công an xã trao đổi về phòng "
            "chống trộm cắp và tín dụng đen. Mời đại diện các hộ gia đình tham dự.",
        ),
        (
            "Ea Sinh village meeting on security",
            "Saturday 19:00 at the Ea Sinh community hall: the commune police talk about "
            "theft and illegal lending. One person from each household, please.",
        ),
        next_run_at=scheduled_at,
    )
    report.scheduled_title = scheduled_title
    report.scheduled_at = scheduled_at.astimezone(settings.tz)
    cron = "0 7 * * mon"
    await _post(
        pages["krong pac"],
        author,
        PostCategory.CRIME_WARNING,
        PostStatus.SCHEDULED,
        (
            "Nhắc nhở đầu tuần: khoá xe, khoá cổng",
            "Trộm xe máy thường xảy ra vào ban đêm. Khoá cổ xe, khoá cổng và không để chìa "
            "khoá trên xe. Thấy người lạ khả nghi, báo ngay cho công an xã.",
        ),
        (
            "Monday reminder: lock your motorbike and gate",
            "Motorbike thefts happen at night. Lock the steering, lock the gate and never "
            "leave the key in the bike. Tell the commune police about anyone suspicious.",
        ),
        cron_expression=cron,
        next_run_at=next_occurrence(cron, now, settings.tz),
    )
    await _post(
        pages["krong pac"],
        author,
        PostCategory.HEALTH,
        PostStatus.PUBLISHED,
        (
            "Phòng chống sốt xuất huyết mùa mưa",
            "Đậy kín dụng cụ chứa nước, thu gom vật dụng phế thải, ngủ màn. Khi sốt cao liên "
            "tục, đưa người bệnh đến trạm y tế xã.",
        ),
        published_at=now - timedelta(days=3),
    )


async def _alert(
    settings: Settings, page: Page, issuer: Staff, now: datetime, report: DemoReport
) -> None:
    """A missing-person alert for one commune, sent (one commune: no second approver)."""
    alert = await create_alert(
        issuer,
        AlertInput(
            category="missing_person",
            headline="Tìm người thân: ông Y Blang Niê, 72 tuổi, đi lạc",
            description="Ông có biểu hiện lú lẫn, đi khỏi nhà từ sáng, chưa trở về.",
            subject_name="Y Blang Niê",
            subject_description="Cao khoảng 1m60, áo sơ mi xanh, đội mũ cối.",
            last_seen_place="Chợ Krông Pắc",
            last_seen_at=now - timedelta(hours=5),
            contact_phone="0262 3812 345",
            instruction="Ai nhìn thấy, xin giữ ông lại và báo ngay cho công an xã.",
            pages=(page.id,),
        ),
        source="demo",
    )
    sent = await Alerts(settings, I18n.load()).send(issuer, alert.id, source="demo")
    report.alert_identifier = sent.identifier


# (category, commune, text, anonymous)
DEMO_TIPS = (
    (
        "fight_weapons",
        "cu mgar",
        "Khoảng 10 thanh niên cầm dao tụ tập trước quán net gần trường, có vẻ sắp đánh nhau.",
        True,
    ),
    (
        "fraud",
        "ea kar",
        "Tôi bị gọi điện giả danh công an, yêu cầu chuyển tiền để 'xác minh tài khoản'.",
        False,
    ),
    (
        "rumour_check",
        "cu mgar",
        "Công an xã sẽ PHÁT TIỀN hỗ trợ 5 triệu, bấm link bit.ly/abc để nhận!!",
        True,
    ),
    (
        "rumour_check",
        "ea kar",
        "cong an xa se phat tien ho tro 5 trieu, bam link bit.ly/abc de nhan",
        True,
    ),
    (
        "rumour_check",
        "krong pac",
        "Công an  xã sẽ phát tiền   hỗ trợ 5 triệu bấm link https://bit.ly/abc để nhận",
        True,
    ),
    ("gambling", "cu mgar", "Tối nào cũng có sòng bạc trong rẫy cà phê cuối buôn Ea Sinh.", True),
)


async def _tips(
    keyring: Keyring,
    webchat: ChannelAccount,
    province: Unit,
    communes: dict[str, Unit],
    supervisor: Staff,
    report: DemoReport,
) -> None:
    """The tips of the module docstring, sent through the tip service as residents send them."""
    desk_unit = await Unit.create(
        level=UnitLevel.DISTRICT,
        kind="Phòng",
        name="Phòng An ninh mạng (demo)",
        name_folded="an ninh mang demo",
        parent=province,
        path=f"{province.path}{province.id}/",
    )
    await RoutingRule.create(scope_unit=province, category=TipCategory.FRAUD, target_unit=desk_unit)
    desk = Tips(keyring)
    submitted = []
    for number, (category, search, text, anonymous) in enumerate(DEMO_TIPS, start=1):
        contact, _ = await find_or_create_contact(
            keyring, webchat, ContactIdentity(f"demo-tipster-{number}"), locale="vi"
        )
        details = (
            {"bank": "Vietcombank", "amount": "18.500.000 đ", "transfer_time": "9:40 sáng nay"}
            if category == "fraud"
            else {}
        )
        submitted.append(
            await desk.submit(
                contact,
                TipInput(
                    category=category,
                    text=text,
                    unit_id=communes[search].id,
                    anonymous=anonymous,
                    location_text="Trước quán net, đường Hùng Vương" if number == 1 else None,
                    details=details,
                    source="demo",
                ),
            )
        )
    officer = await Staff.filter(unit_id=communes["cu mgar"].id, role=Role.OFFICER).first()
    if officer is not None:
        fight = submitted[0].tip
        await desk.acknowledge(officer, fight.id, source="demo")
        await desk.reply(
            officer,
            fight.id,
            "Cảm ơn bạn, tổ tuần tra đang đến. Bạn giữ khoảng cách an toàn.",
            source="demo",
        )
    # Nobody answered the gambling tip: its deadline passed an hour ago.
    late = submitted[-1].tip
    await Tip.filter(id=late.id).update(
        created_at=utcnow() - timedelta(hours=9),
        first_response_due_at=utcnow() - timedelta(hours=1),
    )
    report.tips = len(submitted)
    report.tip_references = [item.reference for item in submitted[:2]]
