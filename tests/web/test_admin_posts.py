"""The admin screens for posts through the real application: the editor stores a post at the
UTC time of what was typed in Vietnam time and the calendar shows it on the Vietnamese day; a
recurring preset fills the month; refused input re-renders the form with the field's message
and writes nothing; the approval queue (the supervisor approves, the officer cannot, another
district sees nothing); the delivery figures match `pagesadmin`'s and "stop" cancels what is
pending; and the route × role matrix with CSRF refusals over every route added."""

from __future__ import annotations

import random
import re
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from communepol.db.models import (
    Delivery,
    DeliveryStatus,
    Page,
    Post,
    PostAttachment,
    PostCategory,
    PostStatus,
    PostTranslation,
    Publication,
    PublicationStatus,
    ScheduleKind,
)
from communepol.i18n import I18n
from communepol.services import pagesadmin, posts
from communepol.services.posts import PostInput, Publisher, Translation
from communepol.settings import Settings
from tests import pagekit
from tests.web.adminkit import Browser, Clock, Scene, csrf_of, scene, signed_in

I18N = I18n.load()


@dataclass
class Places:
    scene: Scene
    page_a: Page
    page_b: Page
    account: pagekit.ChannelAccount


@pytest.fixture
async def places(client: TestClient[Any, Any]) -> Places:
    people = await scene()
    bot = await pagekit.account()
    page_a = await pagekit.page(people.commune_a, "ca-ea-pok", bot, approval=["crime_warning"])
    page_b = await pagekit.page(people.commune_b, "ca-cu-hue", bot)
    await pagekit.followers(page_a, bot, 3, prefix="a")
    await pagekit.followers(page_b, bot, 2, prefix="b")
    return Places(people, page_a, page_b, bot)


def _form(token: str, **fields: str) -> dict[str, str]:
    base = {
        "csrf": token,
        "category": "announcement",
        "title_vi": "Thông báo lịch tiếp dân",
        "body_vi": "Công an xã tiếp dân vào sáng thứ Ba hằng tuần.",
        "schedule": "now",
        "action": "submit",
    }
    base.update(fields)
    return base


def _day(html: str, day: str) -> str:
    found = re.search(rf'<td class="[^"]*" data-day="{day}">(.*?)</td>', html, re.S)
    assert found, f"no day {day}"
    return found[1]


def _days_with(html: str, marker: str) -> list[str]:
    return [
        day
        for day, cell in re.findall(r'data-day="([\d-]+)">(.*?)</td>', html, re.S)
        if marker in cell
    ]


# --- the editor and the calendar -----------------------------------------------------------


async def test_a_post_scheduled_for_tomorrow_is_stored_in_utc_and_shown_on_its_vietnamese_day(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    browser = await signed_in(client, places.scene.officer_a, clock, {})
    new = f"/admin/posts/new?page={places.page_a.id}"
    token = await browser.csrf(new)
    # 06:15 on Tuesday 3 March in Vietnam is 23:15 on Monday 2 March in UTC.
    typed = _form(token, schedule="once", at="2026-03-03T06:15", every_household="yes")
    response = await browser.post(new, typed)
    assert response.status == 303, await response.text()
    post = await Post.get(page_id=places.page_a.id)
    assert response.headers["Location"] == f"/admin/posts/{post.id}?saved=1"
    assert post.status is PostStatus.SCHEDULED
    assert post.schedule_kind is ScheduleKind.ONCE
    assert post.next_run_at == datetime(2026, 3, 2, 23, 15, tzinfo=UTC)
    assert post.must_reach_every_household
    [translation] = await PostTranslation.filter(post_id=post.id)
    assert (translation.locale, translation.title) == ("vi", "Thông báo lịch tiếp dân")

    html = await (await browser.get("/admin/posts/calendar?month=2026-03&lang=en")).text()
    assert _days_with(html, f'data-post="{post.id}"') == ["2026-03-03"]
    assert "06:15 Thông báo lịch tiếp dân" in _day(html, "2026-03-03")
    listed = await (await browser.get("/admin/posts?lang=en")).text()
    assert "Thông báo lịch tiếp dân" in listed and "06:15 03/03/2026" not in listed
    assert "3 Mar 2026, 06:15" in listed  # the list, too, in Vietnam time


async def test_a_weekly_preset_shows_its_coming_occurrences_in_the_month(
    client: TestClient[Any, Any], places: Places, clock: Clock, settings: Settings
) -> None:
    browser = await signed_in(client, places.scene.officer_a, clock, {})
    new = f"/admin/posts/new?page={places.page_a.id}"
    token = await browser.csrf(new)
    response = await browser.post(
        new, _form(token, schedule="cron", preset="weekly", title_vi="Nhắc khóa cửa")
    )
    assert response.status == 303
    post = await Post.get(page_id=places.page_a.id)
    assert (post.schedule_kind, post.cron_expression) == (ScheduleKind.CRON, "0 7 * * mon")
    # Monday 2 March, 09:30 in Vietnam: today's 07:00 has passed; the next Mondays come.
    assert post.next_run_at == datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
    html = await (await browser.get("/admin/posts/calendar?month=2026-03")).text()
    assert _days_with(html, f'data-post="{post.id}"') == [
        "2026-03-09",
        "2026-03-16",
        "2026-03-23",
        "2026-03-30",
    ]
    assert "07:00 Nhắc khóa cửa" in _day(html, "2026-03-16")
    april = await (await browser.get("/admin/posts/calendar?month=2026-04")).text()
    assert _days_with(april, f'data-post="{post.id}"') == [
        "2026-04-06",
        "2026-04-13",
        "2026-04-20",
        "2026-04-27",
    ]
    # What went out shows on its day, next to what is due.
    await Publisher(settings, I18N).publish_due(datetime(2026, 3, 9, 0, 0, 30, tzinfo=UTC))
    html = await (await browser.get("/admin/posts/calendar?month=2026-03")).text()
    [publication] = await Publication.filter(post_id=post.id)
    assert f'data-publication="{publication.id}"' in _day(html, "2026-03-09")


async def test_the_calendar_shows_planned_drafts_and_posts_awaiting_approval_by_a_word(
    client: TestClient[Any, Any], places: Places, clock: Clock, settings: Settings
) -> None:
    people = places.scene
    browser = await signed_in(client, people.officer_a, clock, {})
    new = f"/admin/posts/new?page={places.page_a.id}"
    planned = {
        "Họp dân buôn Ea Sinh": ("draft", "once", "2026-03-05T08:00", "announcement"),
        "Chưa chọn giờ": ("draft", "now", "", "announcement"),
        "Cảnh báo trộm bò": ("submit", "once", "2026-03-06T19:30", "crime_warning"),
        "Lịch tiếp dân": ("submit", "once", "2026-03-07T07:00", "announcement"),
    }
    for title, (action, kind, at, category) in planned.items():
        token = await browser.csrf(new)
        typed = _form(token, title_vi=title, action=action, schedule=kind, at=at, category=category)
        assert (await browser.post(new, typed)).status == 303, title
    post_of = {
        translation.title: await Post.get(id=translation.post_id)  # type: ignore[attr-defined]
        for translation in await PostTranslation.all()
    }
    assert post_of["Cảnh báo trộm bò"].status is PostStatus.PENDING_APPROVAL  # the page's rule
    # Another commune's draft with a time, on the same days.
    elsewhere = await posts.create_post(
        people.officer_b,
        places.page_b.id,
        PostInput(
            "announcement",
            [Translation("vi", "Bản nháp xã Cư Huê", "Nội dung")],
            schedule=ScheduleKind.ONCE,
            at=datetime(2026, 3, 5, 1, 0, tzinfo=UTC),
        ),
        settings,
    )

    html = await (await browser.get("/admin/posts/calendar?month=2026-03&lang=en")).text()
    draft, waiting = post_of["Họp dân buôn Ea Sinh"], post_of["Cảnh báo trộm bò"]
    assert _days_with(html, f'data-post="{draft.id}"') == ["2026-03-05"]
    assert (
        f'<a class="due draft" href="/admin/posts/{draft.id}/edit" data-post="{draft.id}"'
        f' title="Họp dân buôn Ea Sinh"><span class="state">Draft</span> 08:00 Họp dân buôn'
        " Ea Sinh</a>" in unescape(_day(html, "2026-03-05"))
    )
    assert _days_with(html, f'data-post="{waiting.id}"') == ["2026-03-06"]
    assert (
        f'href="/admin/posts/{waiting.id}/edit" data-post="{waiting.id}" title="Cảnh báo trộm bò">'
        '<span class="state">Pending approval</span> 19:30 Cảnh báo trộm bò</a>'
        in unescape(_day(html, "2026-03-06"))
    )
    # A scheduled post keeps its plain entry, to its own page; no word on it.
    scheduled = post_of["Lịch tiếp dân"]
    assert (
        f'href="/admin/posts/{scheduled.id}" data-post="{scheduled.id}" title="Lịch tiếp dân">'
        "07:00 Lịch tiếp dân</a>" in unescape(_day(html, "2026-03-07"))
    )
    # No time, no day; and nothing of the other commune.
    assert f'data-post="{post_of["Chưa chọn giờ"].id}"' not in html
    assert "Chưa chọn giờ" not in unescape(html)
    assert f'data-post="{elsewhere.id}"' not in html and "Cư Huê" not in unescape(html)
    assert html.count('<span class="state">') == 2
    # In Vietnamese the word is translated, like every other label.
    vietnamese = await (await browser.get("/admin/posts/calendar?month=2026-03&lang=vi")).text()
    draft_word = I18N.gettext("vi", "Draft")
    assert f'<span class="state">{draft_word}</span>' in unescape(vietnamese)
    # Its supervisor sees both; the other district's sees neither.
    other = await signed_in(client, people.supervisor_2, clock, {})
    theirs = await (await other.get("/admin/posts/calendar?month=2026-03")).text()
    assert f'data-post="{draft.id}"' not in theirs and f'data-post="{waiting.id}"' not in theirs
    assert f'data-post="{elsewhere.id}"' in theirs


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title_vi": ""}, "title_vi", "Write a title (at most 300 characters)."),
        (
            {"schedule": "once", "at": "2026-03-01T08:00"},
            "at",
            "Give a date and time to publish, in Vietnam time, that has not passed.",
        ),
        ({"category": "weather"}, "category", "Choose a category from the list."),
        (
            {"schedule": "cron", "preset": "", "cron": "every monday"},
            "cron",
            "Not a schedule: five fields (minute hour day month weekday), e.g. 0 7 * * mon.",
        ),
    ],
)
async def test_bad_input_re_renders_the_form_with_the_fields_message_and_writes_nothing(
    client: TestClient[Any, Any],
    places: Places,
    clock: Clock,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    browser = await signed_in(client, places.scene.officer_a, clock, {})
    new = f"/admin/posts/new?page={places.page_a.id}&lang=en"
    token = await browser.csrf(new)
    typed = {"body_vi": "Nội dung đã gõ, giữ lại khi có lỗi", "title_en": "Kept title", **fields}
    response = await browser.post(new, _form(token, **typed))
    assert response.status == 400
    html = unescape(await response.text())
    assert (
        f'<span class="error field-error" id="error-{field}" role="alert">{message}</span>' in html
    )
    assert "Nội dung đã gõ, giữ lại khi có lỗi" in html  # the typed values are kept
    assert 'value="Kept title"' in html
    assert await Post.all().count() == 0
    assert await PostTranslation.all().count() == 0


async def test_editing_keeps_to_the_version_read_and_a_conflict_is_a_message(
    client: TestClient[Any, Any], places: Places, clock: Clock, settings: Settings
) -> None:
    browser = await signed_in(client, places.scene.officer_a, clock, {})
    new = f"/admin/posts/new?page={places.page_a.id}"
    token = await browser.csrf(new)
    await browser.post(new, _form(token, action="draft", schedule="once", at="2026-03-05T08:00"))
    post = await Post.get(page_id=places.page_a.id)
    assert post.status is PostStatus.DRAFT
    editor = await (await browser.get(f"/admin/posts/{post.id}/edit")).text()
    assert 'value="2026-03-05T08:00"' in editor  # shown back in Vietnam time
    assert f'name="version" value="{post.version}"' in editor
    # Someone else edits it meanwhile.
    await posts.update_post(
        places.scene.supervisor_1,
        post.id,
        PostInput("announcement", [Translation("vi", "Sửa bởi người khác", "Nội dung")]),
        settings,
        version=post.version,
    )
    stale = _form(
        csrf_of(editor), version=str(post.version), title_vi="Bản của tôi", action="draft"
    )
    response = await browser.post(f"/admin/posts/{post.id}/edit?lang=en", stale)
    assert response.status == 409
    assert "Someone changed this post meanwhile" in await response.text()
    assert (await PostTranslation.get(post_id=post.id)).title == "Sửa bởi người khác"
    fresh = await Post.get(id=post.id)
    again = _form(csrf_of(editor), version=str(fresh.version), title_vi="Bản của tôi")
    response = await browser.post(f"/admin/posts/{post.id}/edit", again)
    assert response.status == 303
    assert (await PostTranslation.get(post_id=post.id)).title == "Bản của tôi"
    assert (await Post.get(id=post.id)).status is PostStatus.SCHEDULED  # submitted


def _png() -> bytes:
    """A one-pixel PNG carrying a GPS text chunk (metadata the media store strips)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        size, crc = struct.pack(">I", len(data)), struct.pack(">I", zlib.crc32(kind + data))
        return size + kind + data + crc

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
        + chunk(b"tEXt", b"GPS\x0012.68N 108.05E")
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


async def test_an_attachment_is_stored_stripped_and_a_refused_one_leaves_no_post(
    client: TestClient[Any, Any], places: Places, clock: Clock, settings: Settings
) -> None:
    browser = await signed_in(client, places.scene.officer_a, clock, {})
    new = f"/admin/posts/new?page={places.page_a.id}&lang=en"
    token = await browser.csrf(new)
    bad = FormData()
    for key, value in _form(token, action="draft").items():
        bad.add_field(key, value)
    bad.add_field(
        "file", b"<html>not a photo</html>", filename="anh.jpg", content_type="image/jpeg"
    )
    response = await browser.post(new, bad)
    assert response.status == 400
    html = unescape(await response.text())
    assert 'id="error-file"' in html and "or a PDF of at most 5 MB" in html
    assert await Post.all().count() == 0  # the draft went with the refused file

    good = FormData()
    for key, value in _form(token, action="draft").items():
        good.add_field(key, value)
    good.add_field("file", _png(), filename="ảnh hiện trường.png", content_type="image/png")
    response = await browser.post(new, good)
    assert response.status == 303
    post = await Post.get(page_id=places.page_a.id)
    [attachment] = await PostAttachment.filter(post_id=post.id)
    assert attachment.content_type == "image/png" and attachment.filename.endswith(".png")
    stored = (settings.data_dir / "media" / attachment.storage_path).read_bytes()
    assert b"GPS" not in stored
    editor = await (await browser.get(f"/admin/posts/{post.id}/edit")).text()
    assert attachment.filename in unescape(editor)


def _photo(width: int, height: int) -> bytes:
    """A real RGB PNG of random pixels (they do not compress: the file is about
    ``width * height * 3`` bytes) carrying a GPS text chunk the media store must strip."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        size, crc = struct.pack(">I", len(data)), struct.pack(">I", zlib.crc32(kind + data))
        return size + kind + data + crc

    noise = random.Random(width * height)
    rows = b"".join(b"\x00" + noise.randbytes(width * 3) for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"tEXt", b"GPS\x0012.68N 108.05E")
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def _multipart(fields: dict[str, str], photo: bytes, name: str = "hien-truong.png") -> FormData:
    form = FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", photo, filename=name, content_type="image/png")
    return form


def _stored_files(settings: Settings) -> list[str]:
    root = settings.data_dir / "media"
    return sorted(str(path) for path in root.rglob("*") if path.is_file()) if root.exists() else []


async def test_a_photo_over_1_mib_is_stored_stripped_through_the_editor(
    client: TestClient[Any, Any], places: Places, clock: Clock, settings: Settings
) -> None:
    browser = await signed_in(client, places.scene.officer_a, clock, {})
    new = f"/admin/posts/new?page={places.page_a.id}"
    photo = _photo(900, 600)  # about 1.6 MB
    assert 1024 * 1024 < len(photo) < posts.ATTACHMENT_MAX_BYTES
    token = await browser.csrf(new)
    response = await browser.post(new, _multipart(_form(token, action="draft"), photo))
    assert response.status == 303, response.status
    post = await Post.get(page_id=places.page_a.id)
    [attachment] = await PostAttachment.filter(post_id=post.id)
    stored = (settings.data_dir / "media" / attachment.storage_path).read_bytes()
    assert attachment.content_type == "image/png" and attachment.size_bytes == len(stored)
    assert b"GPS" not in stored and b"12.68N" not in stored
    assert len(stored) == len(photo) - len(b"GPS\x0012.68N 108.05E") - 12  # only the chunk went

    # An edit of the post takes a second one the same way.
    editor = await (await browser.get(f"/admin/posts/{post.id}/edit")).text()
    version = str((await Post.get(id=post.id)).version)
    again = _multipart(_form(csrf_of(editor), action="draft", version=version), _photo(800, 500))
    response = await browser.post(f"/admin/posts/{post.id}/edit", again)
    assert response.status == 303, response.status
    assert await PostAttachment.filter(post_id=post.id).count() == 2


@pytest.mark.parametrize("size", [(1400, 1300), (3500, 3400)], ids=["5.2MB", "35.7MB"])
async def test_a_photo_over_the_limit_is_refused_on_the_form_and_nothing_is_stored(
    client: TestClient[Any, Any],
    places: Places,
    clock: Clock,
    settings: Settings,
    size: tuple[int, int],
) -> None:
    browser = await signed_in(client, places.scene.officer_a, clock, {})
    new = f"/admin/posts/new?page={places.page_a.id}&lang=en"
    photo = _photo(*size)
    token = await browser.csrf(new)
    typed = _form(
        token,
        action="submit",
        title_vi="Cảnh báo lừa đảo qua mạng",
        title_en="Online fraud warning",
        body_en="Kept English text",
    )
    response = await browser.post(new, _multipart(typed, photo))
    html = unescape(await response.text())
    if len(photo) <= 32 * 1024 * 1024:
        # Read, and refused next to its field with everything typed kept.
        assert response.status == 400
        assert (
            '<span class="error field-error" id="error-file" role="alert">Attach a photo '
            "(JPEG, PNG, WebP) or a PDF of at most 5 MB; at most 4 per post.</span>" in html
        )
        assert 'value="Cảnh báo lừa đảo qua mạng"' in html
        assert 'value="Online fraud warning"' in html and "Kept English text" in html
        assert "Công an xã tiếp dân vào sáng thứ Ba hằng tuần." in html
    else:
        # Past the ceiling the form is not read at all: a page that says why, not a bare 413.
        assert response.status == 413
        assert "The file is too large: attach one of at most 5 MB." in html
    assert await Post.all().count() == 0
    assert await PostAttachment.all().count() == 0
    assert _stored_files(settings) == []


async def test_routes_without_a_file_keep_the_1_mib_cap(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    browser = await signed_in(client, places.scene.officer_a, clock, {})
    token = await browser.csrf("/admin/posts")
    two_mib = "x" * (2 * 1024 * 1024)
    for path in ("/admin/posts/1/cancel", "/admin/password"):
        response = await browser.post(path, {"csrf": token, "text": two_mib})
        assert response.status == 413, path
    refused = await browser.post(
        "/admin/posts/1/cancel", _multipart({"csrf": token}, _photo(900, 600))
    )
    assert refused.status == 413
    # Nobody signed in: the editor's route keeps the cap too, before any session is known.
    stranger = Browser(client)
    response = await stranger.post(
        f"/admin/posts/new?page={places.page_a.id}", _multipart({}, _photo(900, 600))
    )
    assert response.status == 413
    assert await Post.all().count() == 0


# --- the approval queue --------------------------------------------------------------------


async def test_the_approval_queue_the_supervisor_approves_the_officer_cannot_others_see_nothing(
    client: TestClient[Any, Any], places: Places, clock: Clock
) -> None:
    people = places.scene
    secrets: dict[int, str] = {}
    officer = await signed_in(client, people.officer_a, clock, secrets)
    new = f"/admin/posts/new?page={places.page_a.id}"
    token = await officer.csrf(new)
    response = await officer.post(
        new,
        _form(token, category="crime_warning", title_vi="Cảnh báo trộm chó", at="2026-03-03T07:00"),
    )
    assert response.status == 303
    post = await Post.get(page_id=places.page_a.id)
    assert post.status is PostStatus.PENDING_APPROVAL

    # The officer sees no queue and cannot approve their own post (nor anyone's).
    queue = await (await officer.get("/admin/approvals?lang=en")).text()
    assert "Only supervisors and administrators approve" in queue
    refused = await officer.post(f"/admin/posts/{post.id}/approve", {"csrf": token})
    assert refused.status == 403
    assert (await Post.get(id=post.id)).status is PostStatus.PENDING_APPROVAL

    # A supervisor of the other district: nothing in the queue, 404 for every URL of it.
    other = await signed_in(client, people.supervisor_2, clock, secrets)
    assert "Cảnh báo trộm chó" not in await (await other.get("/admin/approvals")).text()
    assert (await other.get(f"/admin/posts/{post.id}")).status == 404
    other_token = await other.csrf("/admin/approvals")
    for action in ("approve", "reject"):
        response = await other.post(
            f"/admin/posts/{post.id}/{action}", {"csrf": other_token, "reason": "không"}
        )
        assert response.status == 404
        assert "Cảnh báo trộm chó" not in await response.text()
    assert (await Post.get(id=post.id)).status is PostStatus.PENDING_APPROVAL

    supervisor = await signed_in(client, people.supervisor_1, clock, secrets)
    queue = await (await supervisor.get("/admin/approvals")).text()
    assert f'data-post="{post.id}"' in queue and "Cảnh báo trộm chó" in queue
    token = csrf_of(queue)
    response = await supervisor.post(f"/admin/posts/{post.id}/approve", {"csrf": token})
    assert (response.status, response.headers["Location"]) == (
        303,
        "/admin/approvals?done=approved",
    )
    approved = await Post.get(id=post.id)
    assert approved.status is PostStatus.SCHEDULED
    assert approved.approved_by_id == people.supervisor_1.id  # type: ignore[attr-defined]
    assert approved.next_run_at == datetime(2026, 3, 2, 2, 30, tzinfo=UTC)  # "now" when approved
    assert f'data-post="{post.id}"' not in await (await supervisor.get("/admin/approvals")).text()


async def test_a_post_sent_back_needs_a_reason_and_returns_to_its_author_as_a_draft(
    client: TestClient[Any, Any], places: Places, clock: Clock, settings: Settings
) -> None:
    people = places.scene
    post = await posts.create_post(
        people.officer_a,
        places.page_a.id,
        PostInput("crime_warning", [Translation("vi", "Cảnh báo", "Nội dung")]),
        settings,
    )
    await posts.submit_post(people.officer_a, post.id, settings)
    supervisor = await signed_in(client, people.supervisor_1, clock, {})
    token = await supervisor.csrf("/admin/approvals")
    empty = await supervisor.post(
        f"/admin/posts/{post.id}/reject?lang=en", {"csrf": token, "reason": " "}
    )
    assert empty.status == 400 and "Say why it is sent back." in await empty.text()
    assert (await Post.get(id=post.id)).status is PostStatus.PENDING_APPROVAL
    sent_back = await supervisor.post(
        f"/admin/posts/{post.id}/reject", {"csrf": token, "reason": "Thiếu địa điểm"}
    )
    assert sent_back.status == 303
    assert (await Post.get(id=post.id)).status is PostStatus.DRAFT


# --- statistics and stop -------------------------------------------------------------------


def _figures(html: str, publication_id: int) -> list[int]:
    found = re.search(rf'<tr data-publication="{publication_id}">(.*?)</tr>', html, re.S)
    assert found, f"no row for publication {publication_id}"
    cells = re.findall(r"<td>(\d+)</td>", found[1])
    return [int(cell) for cell in cells]


async def _published(places: Places, settings: Settings, clock: Clock) -> tuple[Post, int]:
    post = await posts.create_post(
        places.scene.officer_a,
        places.page_a.id,
        PostInput("announcement", [Translation("vi", "Lịch tiêm phòng dại", "Sáng thứ Bảy")]),
        settings,
    )
    await posts.submit_post(places.scene.officer_a, post.id, settings)
    [publication_id] = await Publisher(settings, I18N).publish_due(clock.now)
    return post, publication_id


async def test_statistics_match_pagesadmins_figures_and_stop_cancels_what_is_pending(
    client: TestClient[Any, Any], places: Places, clock: Clock, settings: Settings
) -> None:
    settings = settings
    post, publication_id = await _published(places, settings, clock)
    rows = await Delivery.filter(publication_id=publication_id).order_by("id")
    assert len(rows) == 3
    await Delivery.filter(id=rows[0].id).update(status=DeliveryStatus.SENT, read_at=clock.now)
    await Delivery.filter(id=rows[1].id).update(status=DeliveryStatus.UNREACHABLE)

    def expected(stats: Any) -> list[int]:
        return [
            stats.recipients,
            stats.queued,
            *(stats.by_status.get(s, 0) for s in ("sent", "dead", "unreachable", "quota_blocked")),
            stats.by_status.get("cancelled", 0),
            stats.read,
        ]

    browser = await signed_in(client, places.scene.officer_a, clock, {})
    html = await (await browser.get(f"/admin/posts/{post.id}")).text()
    _, [stats] = await pagesadmin.post_stats(post.id)
    assert _figures(html, publication_id) == expected(stats) == [3, 1, 1, 0, 1, 0, 0, 1]

    token = csrf_of(html)
    response = await browser.post(
        f"/admin/posts/{post.id}/stop", {"csrf": token, "publication": str(publication_id)}
    )
    assert (response.status, response.headers["Location"]) == (
        303,
        f"/admin/posts/{post.id}?stopped=1",
    )
    assert (await Publication.get(id=publication_id)).status is PublicationStatus.STOPPED
    statuses = sorted(d.status.value for d in await Delivery.filter(publication_id=publication_id))
    assert statuses == ["cancelled", "sent", "unreachable"]
    html = await (await browser.get(f"/admin/posts/{post.id}")).text()
    _, [stats] = await pagesadmin.post_stats(post.id)
    assert _figures(html, publication_id) == expected(stats) == [3, 0, 1, 0, 1, 0, 1, 1]
    again = await browser.post(
        f"/admin/posts/{post.id}/stop?lang=en", {"csrf": token, "publication": str(publication_id)}
    )
    assert again.status == 409 and "already stopped" in await again.text()


# --- the scope matrix ----------------------------------------------------------------------

A, B = "A", "B"
ROLES = ("officer_a", "officer_b", "supervisor_1", "supervisor_2", "admin")
SEES = {
    "officer_a": {A},
    "officer_b": {B},
    "supervisor_1": {A},
    "supervisor_2": {B},
    "admin": {A, B},
}
TITLE_OF = {A: "Bí mật của xã Ea Pốk", B: "Bí mật của xã Cư Huê"}


async def test_every_posts_route_keeps_each_role_in_its_subtree_and_refuses_missing_csrf(
    client: TestClient[Any, Any], places: Places, clock: Clock, settings: Settings
) -> None:
    people = places.scene
    settings = settings
    pages = {A: places.page_a, B: places.page_b}
    authors = {A: people.officer_a, B: people.officer_b}
    post_of: dict[str, Post] = {}
    publication_of: dict[str, int] = {}
    for commune in (A, B):
        post = await posts.create_post(
            authors[commune],
            pages[commune].id,
            PostInput(
                "announcement",
                [Translation("vi", TITLE_OF[commune], "Nội dung")],
                schedule=ScheduleKind.CRON,
                cron="0 7 * * *",
            ),
            settings,
        )
        await posts.submit_post(authors[commune], post.id, settings)
        post_of[commune] = post
        published = await Post.create(
            page=pages[commune], category=PostCategory.ANNOUNCEMENT, status=PostStatus.PUBLISHED
        )
        publication = await Publication.create(
            post=published, occurrence_at=clock.now, status=PublicationStatus.SENDING
        )
        publication_of[commune] = publication.id
        post_of[commune + "-published"] = published
    secrets: dict[int, str] = {}
    browsers = {
        role: await signed_in(client, getattr(people, role), clock, secrets) for role in ROLES
    }
    problems: list[str] = []

    def expect(cell: str, got: int, wanted: int) -> None:
        if got != wanted:
            problems.append(f"{cell}: {got}, expected {wanted}")

    def leaks(html: str, role: str) -> None:
        for commune in (A, B):
            if commune not in SEES[role] and TITLE_OF[commune] in unescape(html):
                problems.append(f"{role} sees commune {commune}'s post")

    for role in ROLES:
        browser = browsers[role]
        for path in (
            "/admin/posts",
            "/admin/posts/calendar?month=2026-03",
            "/admin/posts/calendar",
            "/admin/approvals",
            "/admin/posts/new",
        ):
            response = await browser.get(path)
            expect(f"{role} GET {path}", response.status, 200)
            assert response.headers["Cache-Control"] == "no-store"
            leaks(await response.text(), role)
        for commune in (A, B):
            allowed = commune in SEES[role]
            post = post_of[commune]
            for path in (
                f"/admin/posts?page={pages[commune].id}",
                f"/admin/posts/calendar?month=2026-03&page={pages[commune].id}",
                f"/admin/posts/new?page={pages[commune].id}",
                f"/admin/posts/{post.id}",
                f"/admin/posts/{post.id}/edit",
            ):
                response = await browser.get(path)
                expect(f"{role} GET {path}", response.status, 200 if allowed else 404)
                html = await response.text()
                leaks(html, role)
                if allowed and "new" not in path:
                    assert TITLE_OF[commune] in unescape(html), (role, path)
            token = csrf_of(await (await browser.get("/admin/password")).text())
            if allowed:
                continue
            # Every write into another commune is 404 and changes nothing.
            writes = {
                f"/admin/posts/new?page={pages[commune].id}": _form(token, title_vi="Lén"),
                f"/admin/posts/{post.id}/edit": _form(
                    token, title_vi="Lén", version=str(post.version)
                ),
                f"/admin/posts/{post.id}/cancel": {"csrf": token},
                f"/admin/posts/{post.id}/approve": {"csrf": token},
                f"/admin/posts/{post.id}/reject": {"csrf": token, "reason": "Lén"},
                f"/admin/posts/{post_of[commune + '-published'].id}/stop": {
                    "csrf": token,
                    "publication": str(publication_of[commune]),
                },
            }
            for path, data in writes.items():
                response = await browser.post(path, data)
                expect(f"{role} POST {path}", response.status, 404)
                leaks(await response.text(), role)
        for bad in ("999999", "x1"):
            response = await browser.get(f"/admin/posts?page={bad}")
            expect(f"{role} GET posts?page={bad}", response.status, 404)
        response = await browser.get("/admin/posts/calendar?month=2026-13")
        expect(f"{role} GET a month 13", response.status, 404)

    # Writes inside the scope work; the same without a CSRF token, or from another site, not.
    officer = browsers["officer_a"]
    token = csrf_of(await (await officer.get("/admin/password")).text())
    post = post_of[A]
    no_token = {
        f"/admin/posts/new?page={places.page_a.id}": _form("", title_vi="Không mã"),
        f"/admin/posts/{post.id}/edit": _form("", title_vi="Không mã", version=str(post.version)),
        f"/admin/posts/{post.id}/cancel": {},
        f"/admin/posts/{post.id}/approve": {},
        f"/admin/posts/{post.id}/reject": {"reason": "Không mã"},
        f"/admin/posts/{post_of['A-published'].id}/stop": {"publication": str(publication_of[A])},
    }
    for path, data in no_token.items():
        data = {key: value for key, value in data.items() if key != "csrf"}
        response = await officer.post(path, data)
        expect(f"POST {path} without CSRF", response.status, 403)
        response = await officer.post(path, {**data, "csrf": token}, origin="https://evil.example")
        expect(f"POST {path} from another site", response.status, 403)
        response = await Browser(client).post(path, data)
        expect(f"anonymous POST {path}", response.status, 403)
    anonymous = Browser(client)
    for path in (
        "/admin/posts",
        "/admin/posts/calendar",
        "/admin/approvals",
        f"/admin/posts/{post.id}",
    ):
        response = await anonymous.get(path)
        expect(f"anonymous GET {path}", response.status, 303)
    assert problems == []
    # Nothing of the refused writes happened.
    assert not await PostTranslation.filter(title__in=["Lén", "Không mã"]).exists()
    assert await Post.filter(status=PostStatus.CANCELLED).count() == 0
    assert [p.status for p in await Publication.all().order_by("id")] == [
        PublicationStatus.SENDING,
        PublicationStatus.SENDING,
    ]
    # And the allowed one does.
    response = await officer.post(f"/admin/posts/{post.id}/cancel", {"csrf": token})
    assert response.status == 303
    assert (await Post.get(id=post.id)).status is PostStatus.CANCELLED
