"""Translations, formatting and the catalog tooling (communepol.i18n, communepol.catalogs).

The first tests are the CI gate on the real repository: ``messages.pot`` matches the code, the
``.po`` files match ``messages.pot``, and every message has a Vietnamese translation.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from communepol import catalogs
from communepol.db.models.posts import PostCategory, PostStatus
from communepol.db.models.staff import Role
from communepol.db.models.tips import TipCategory, TipStatus, Urgency
from communepol.db.models.units import UnitLevel
from communepol.i18n import (
    N_,
    POST_CATEGORY_LABELS,
    POST_STATUS_LABELS,
    ROLE_LABELS,
    TIP_CATEGORY_LABELS,
    TIP_STATUS_LABELS,
    TIP_URGENCY_LABELS,
    UNIT_LEVEL_LABELS,
    I18n,
    _,
    format_date,
    format_datetime,
    format_number,
    format_relative,
    locales_dir,
    negotiate,
    normalize_locale,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def i18n() -> I18n:
    return I18n.load()


def _translations(
    locale: str, entries: dict[str | tuple[str, str], str | tuple[str, ...]]
) -> Translations:
    catalog = Catalog(locale=locale)
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def _copy_tree(dest: Path) -> Path:
    """The parts of the repository extraction reads: code, templates and locales (no .mo)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo", "static")
    for name in ("communepol", "bots", "locales"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    return dest


def _fake_tree(dest: Path, files: dict[str, str]) -> Path:
    (dest / "locales").mkdir(parents=True)
    shutil.copy(ROOT / "locales" / "babel.cfg", dest / "locales" / "babel.cfg")
    for relative, text in files.items():
        path = dest / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return dest


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "locales").rglob("*"))
        if p.is_file()
    }


# --- the CI gate on the real repository ------------------------------------------------------


def test_messages_pot_is_up_to_date() -> None:
    assert catalogs.stale_messages(ROOT) == [], "run `communepol i18n update`"


def test_every_message_has_a_vietnamese_translation() -> None:
    assert catalogs.untranslated(ROOT, "vi") == []


def test_catalogs_pass_every_check() -> None:
    assert catalogs.check_catalogs(ROOT) == []


def test_locales_dir_is_the_repository_locales() -> None:
    assert locales_dir() == ROOT / "locales"
    assert (locales_dir() / "babel.cfg").is_file()


# --- translating ------------------------------------------------------------------------------


def test_markers_are_identity() -> None:
    assert _("Tip received") == "Tip received"
    assert N_("Tip received") == "Tip received"


def test_vietnamese_translation_is_the_one_in_the_po_file(i18n: I18n) -> None:
    with (ROOT / "locales/vi/LC_MESSAGES/messages.po").open("rb") as fp:
        po = read_po(fp, locale="vi")
    entry = po.get("Fraud warning")
    assert entry is not None
    assert entry.string == "Cảnh báo lừa đảo"
    assert i18n.gettext("vi", "Fraud warning") == entry.string != "Fraud warning"
    assert i18n.gettext("vi", TIP_CATEGORY_LABELS[TipCategory.ILLEGAL_LENDING]) == "Tín dụng đen"


def test_english_falls_back_to_the_msgid(i18n: I18n) -> None:
    assert i18n.gettext("en", "Fraud warning") == "Fraud warning"
    assert i18n.gettext("en-GB", "Fraud warning") == "Fraud warning"


def test_unknown_or_missing_locale_gets_vietnamese(i18n: I18n) -> None:
    assert i18n.gettext("fr", "Fraud warning") == "Cảnh báo lừa đảo"
    assert i18n.gettext(None, "Fraud warning") == "Cảnh báo lừa đảo"
    assert i18n.translations("zz") is i18n.translations("vi")


def test_plural_forms(i18n: I18n) -> None:
    singular, plural = "%(num)s follower", "%(num)s followers"
    assert i18n.ngettext("vi", singular, plural, 1) == "%(num)s người theo dõi"
    assert i18n.ngettext("vi", singular, plural, 7) == "%(num)s người theo dõi"
    assert i18n.ngettext("en", singular, plural, 1) == singular
    assert i18n.ngettext("en", singular, plural, 7) == plural


def test_params_are_formatted_after_translating() -> None:
    vi = _translations(
        "vi",
        {
            "Tip {reference} received": "Đã nhận tin báo {reference}",
            ("{n} tip", "{n} tips"): ("{n} tin báo trong {unit}",),
        },
    )
    i18n = I18n({"vi": vi})
    # Formatting first would look up "Tip A7F3 received", find nothing and stay English.
    assert i18n.gettext("vi", "Tip {reference} received", reference="A7F3") == (
        "Đã nhận tin báo A7F3"
    )
    assert i18n.gettext("en", "Tip {reference} received", reference="A7F3") == ("Tip A7F3 received")
    assert i18n.ngettext("vi", "{n} tip", "{n} tips", 3, unit="Xã Ea Tu") == (
        "3 tin báo trong Xã Ea Tu"
    )
    assert i18n.ngettext("en", "{n} tip", "{n} tips", 1) == "1 tip"
    # Without params nothing is formatted, so literal braces survive.
    assert i18n.gettext("vi", "Use {braces}") == "Use {braces}"


def test_a_broken_translation_falls_back_to_the_msgid() -> None:
    i18n = I18n({"vi": _translations("vi", {"Tip {reference} received": "Đã nhận {ref}"})})
    assert i18n.gettext("vi", "Tip {reference} received", reference="A7F3") == ("Tip A7F3 received")


def test_empty_message_is_not_the_catalog_header(i18n: I18n) -> None:
    assert i18n.gettext("vi", "") == ""


def test_load_needs_the_default_catalog_only(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="default locale"):
        I18n.load(tmp_path)
    with pytest.raises(ValueError, match="unsupported"):
        I18n.load(tmp_path, default_locale="fr")
    vi_dir = tmp_path / "vi" / "LC_MESSAGES"
    vi_dir.mkdir(parents=True)
    shutil.copy(ROOT / "locales/vi/LC_MESSAGES/messages.po", vi_dir / "messages.po")
    i18n = I18n.load(tmp_path)  # no English catalog: English shows the msgids
    assert i18n.gettext("vi", "Fraud warning") == "Cảnh báo lừa đảo"
    assert i18n.gettext("en", "Fraud warning") == "Fraud warning"


def test_labels_cover_every_enum_value() -> None:
    tables = [
        (POST_CATEGORY_LABELS, PostCategory),
        (POST_STATUS_LABELS, PostStatus),
        (TIP_CATEGORY_LABELS, TipCategory),
        (TIP_URGENCY_LABELS, Urgency),
        (TIP_STATUS_LABELS, TipStatus),
        (ROLE_LABELS, Role),
        (UNIT_LEVEL_LABELS, UnitLevel),
    ]
    for labels, enum in tables:
        assert set(labels) == {member.value for member in enum}, enum.__name__


def test_vietnamese_labels(i18n: I18n) -> None:
    def vi(label: str) -> str:
        return i18n.gettext("vi", label)

    assert vi(TIP_CATEGORY_LABELS["fraud"]) == "Lừa đảo, lừa đảo qua mạng"
    assert vi(TIP_CATEGORY_LABELS["theft"]) == "Trộm cắp, cướp giật"
    assert vi(TIP_CATEGORY_LABELS["rumour_check"]) == "Kiểm chứng tin đồn"
    assert vi(POST_CATEGORY_LABELS["procedure"]) == "Thủ tục hành chính"
    assert vi(POST_CATEGORY_LABELS["missing_person"]) == "Người mất tích"
    assert vi(ROLE_LABELS[Role.OFFICER]) == "Cán bộ"
    assert vi(ROLE_LABELS[Role.SUPERVISOR]) == "Chỉ huy/giám sát"


# --- locales ----------------------------------------------------------------------------------


def test_negotiate(i18n: I18n) -> None:
    assert i18n.negotiate("en-US,en;q=0.9") == "en"
    assert i18n.negotiate("fr") == "vi"
    assert i18n.negotiate(None) == "vi"
    assert i18n.negotiate("") == "vi"
    assert i18n.negotiate("fr-FR,fr;q=0.9,en;q=0.8,vi;q=0.7") == "en"
    assert i18n.negotiate("en;q=0.5, vi-VN") == "vi"
    assert i18n.negotiate("en;q=0, *") == "vi"
    assert i18n.negotiate("en;q=oops,fr") == "vi"
    assert negotiate("de", default="en") == "en"


def test_normalize_locale(i18n: I18n) -> None:
    assert i18n.normalize_locale("vi-VN") == "vi"
    assert i18n.normalize_locale("VI") == "vi"
    assert i18n.normalize_locale("en_US") == "en"
    assert i18n.normalize_locale(" en ") == "en"
    assert i18n.normalize_locale("english") == "vi"
    assert i18n.normalize_locale(None) == "vi"
    assert normalize_locale("xx", default="en") == "en"


# --- formatting -------------------------------------------------------------------------------


def test_format_number() -> None:
    assert format_number(74000, "vi") == "74.000"
    assert format_number(74000, "en") == "74,000"
    assert format_number(1234.5, "vi-VN") == "1.234,5"


def test_format_datetime_in_ho_chi_minh_time() -> None:
    instant = datetime(2026, 11, 22, 7, 30, tzinfo=UTC)
    assert format_datetime(instant, "vi") == "14:30 22/11/2026"
    assert format_datetime(instant, "en") == "22 Nov 2026, 14:30"
    assert format_datetime(instant, "fr") == "14:30 22/11/2026"
    # The same instant written in another offset is the same moment on the wall in Hà Nội.
    assert format_datetime(instant.astimezone(timezone(timedelta(hours=-5))), "vi") == (
        "14:30 22/11/2026"
    )
    assert format_datetime(instant, "vi", tz="UTC") == "07:30 22/11/2026"
    # 20:00 UTC is already the next day in Vietnam.
    late = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)
    assert format_date(late, "vi") == "23/11/2026"
    assert format_date(date(2026, 11, 22), "vi") == "22/11/2026"
    assert format_date(date(2026, 11, 22), "en") == "22 Nov 2026"


def test_naive_datetime_is_rejected() -> None:
    naive = datetime(2026, 11, 22, 7, 30)
    with pytest.raises(ValueError, match="naive"):
        format_datetime(naive, "vi")
    with pytest.raises(ValueError, match="naive"):
        format_date(naive, "vi")


def test_format_relative(i18n: I18n) -> None:
    assert format_relative(timedelta(hours=-3), "vi") == "3 giờ trước"
    assert format_relative(timedelta(hours=-3), "en") == "3 hours ago"
    assert format_relative(timedelta(days=2), "en") == "in 2 days"
    assert i18n.format_relative(timedelta(seconds=-20), "vi") == "vừa xong"
    assert i18n.format_relative(timedelta(seconds=-20), "en") == "just now"
    assert i18n.format_relative(timedelta(minutes=-5), "vi") == "5 phút trước"


def test_template_globals_are_bound_to_the_locale(i18n: I18n) -> None:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(
        '{{ _("Fraud warning") }} · {{ gettext("Posts") }} · '
        '{{ ngettext("%(num)s follower", "%(num)s followers", n) | format(num=format_number(n)) }}'
        " · {{ format_datetime(at) }} · {{ format_date(at) }}"
    )
    at = datetime(2026, 11, 22, 7, 30, tzinfo=UTC)
    vi = template.render(n=74000, at=at, **i18n.template_globals("vi"))
    assert (
        vi == "Cảnh báo lừa đảo · Bài đăng · 74.000 người theo dõi · 14:30 22/11/2026 · 22/11/2026"
    )
    en = template.render(n=1, at=at, **i18n.template_globals("en-US", tz="UTC"))
    assert en == "Fraud warning · Posts · 1 follower · 22 Nov 2026, 07:30 · 22 Nov 2026"


# --- catalog tooling on temporary trees -------------------------------------------------------


def test_stale_when_the_code_has_a_new_marked_string(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    assert catalogs.stale_messages(root) == []
    (root / "communepol" / "i18n_probe.py").write_text(
        'from communepol.i18n import _\n\nMESSAGE = _("Tip received")\n', encoding="utf-8"
    )
    assert catalogs.stale_messages(root) == ["missing from messages.pot: 'Tip received'"]


def test_extraction_sources_and_stale_directions(tmp_path: Path) -> None:
    root = _fake_tree(
        tmp_path,
        {
            "communepol/svc.py": (
                "from communepol.i18n import N_, _\n"
                "LABEL = N_('Label')\n"
                "def reply(i18n, locale, n):\n"
                "    # TRANSLATORS: shown after a resident sends a tip\n"
                "    a = _('Thanks')\n"
                "    b = i18n.gettext(locale, 'Edge call {x}', x=1)\n"
                "    c = i18n.ngettext(locale, '{n} tip', '{n} tips', n)\n"
                "    d = i18n.gettext(locale, LABEL)\n"
                "    return a, b, c, d\n"
            ),
            "bots/zalo.py": "from communepol.i18n import _\nX = _('From a bot')\n",
            "communepol/web/templates/x.html": (
                '{# TRANSLATORS: page heading #}\n<h1>{{ _("Heading") }}</h1>\n'
                '{{ ngettext("%(num)s page", "%(num)s pages", n) }} {{ gettext("G") }}\n'
            ),
            "tests/test_x.py": "from communepol.i18n import _\nX = _('Not scanned')\n",
            "top.py": "X = _('Not scanned either')\n",
        },
    )
    catalog = catalogs.extract(root)
    ids = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id}
    assert ids == {
        "Label",
        "Thanks",
        "Edge call {x}",
        ("{n} tip", "{n} tips"),
        "From a bot",
        "Heading",
        ("%(num)s page", "%(num)s pages"),
        "G",
    }
    thanks, heading = catalog.get("Thanks"), catalog.get("Heading")
    assert thanks is not None and heading is not None
    assert thanks.auto_comments == ["shown after a resident sends a tip"]
    assert heading.auto_comments == ["page heading"]
    assert heading.locations == [("communepol/web/templates/x.html", 2)]

    assert catalogs.stale_messages(root) == [
        f"{catalogs.template_path(root)} does not exist: run `communepol i18n update`"
    ]
    catalogs.update_catalogs(root)
    assert catalogs.stale_messages(root) == []
    pot = catalogs.template_path(root).read_text(encoding="utf-8")
    assert "#: communepol/svc.py\n" in pot and str(tmp_path) not in pot

    svc = root / "communepol/svc.py"
    svc.write_text(svc.read_text().replace("'Thanks'", "'Thank you'"), encoding="utf-8")
    assert catalogs.stale_messages(root) == [
        "missing from messages.pot: 'Thank you'",
        "no longer in the code: 'Thanks'",
    ]


def test_update_keeps_translations_and_reports(tmp_path: Path) -> None:
    root = _fake_tree(tmp_path, {"communepol/a.py": "X = [_('One'), _('Two')]\n"})
    first = catalogs.update_catalogs(root)
    assert (first.messages, first.new, first.obsolete) == (2, 2, 0)
    assert catalogs.untranslated(root, "vi") == [
        "vi: untranslated: 'One'",
        "vi: untranslated: 'Two'",
    ]
    assert catalogs.check_catalogs(root) == catalogs.untranslated(root, "vi")

    po = catalogs.po_path(root, "vi")
    po.write_text(
        po.read_text(encoding="utf-8").replace(
            'msgid "One"\nmsgstr ""', 'msgid "One"\nmsgstr "Một"'
        ),
        encoding="utf-8",
    )
    (root / "communepol/a.py").write_text("X = [_('One'), _('Three')]\n", encoding="utf-8")
    report = catalogs.update_catalogs(root)
    assert (report.messages, report.new, report.obsolete) == (2, 1, 1)
    vi = next(r for r in report.locales if r.locale == "vi")
    assert (vi.messages, vi.new, vi.obsolete, vi.untranslated) == (2, 1, 1, 1)
    assert catalogs.untranslated(root, "vi") == ["vi: untranslated: 'Three'"]
    assert "Two" not in po.read_text(encoding="utf-8")
    assert I18n.load(root / "locales").gettext("vi", "One") == "Một"
    assert catalogs.mo_path(root, "vi").is_file()


def test_update_twice_is_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _copy_tree(tmp_path)
    catalogs.update_catalogs(root)
    before = _snapshot(root)
    monkeypatch.setattr(catalogs, "_now", lambda: datetime(2031, 1, 1, 0, 0, tzinfo=UTC))
    report = catalogs.update_catalogs(root)
    assert report.changed == ()
    assert str(report).splitlines()[-1] == "no file changed"
    assert _snapshot(root) == before
    # The date does move when the set of messages changes.
    (root / "communepol" / "i18n_probe.py").write_text("X = _('Tip received')\n", encoding="utf-8")
    catalogs.update_catalogs(root)
    assert "POT-Creation-Date: 2031-01-01 00:00+0000" in catalogs.template_path(root).read_text(
        encoding="utf-8"
    )


def test_placeholder_problems_are_reported(tmp_path: Path) -> None:
    root = _fake_tree(
        tmp_path,
        {"communepol/a.py": "X = [_('Tip {reference} received'), _('Sent at %(when)s')]\n"},
    )
    catalogs.update_catalogs(root)
    po = catalogs.po_path(root, "vi")
    text = po.read_text(encoding="utf-8")
    text = text.replace(
        'msgid "Tip {reference} received"\nmsgstr ""',
        'msgid "Tip {reference} received"\nmsgstr "Đã nhận {ref}"',
    ).replace(
        'msgid "Sent at %(when)s"\nmsgstr ""', 'msgid "Sent at %(when)s"\nmsgstr "Gửi lúc %(luc)s"'
    )
    po.write_text(text, encoding="utf-8")
    problems = catalogs.check_catalogs(root)
    assert "vi: unknown placeholder {ref} in translation of 'Tip {reference} received'" in problems
    assert "vi: translation of 'Tip {reference} received' drops {reference}" in problems
    assert any(p.startswith("vi: 'Sent at %(when)s': ") for p in problems), problems
