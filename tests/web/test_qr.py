"""Printable follow material: each page's follow links, their QR codes as PNG and SVG that
encode exactly those links, and the A4 poster that shows them in the reader's language."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import segno
from aiohttp.test_utils import TestClient
from tortoise.context import TortoiseContext

from communepol.app import create_app
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    ChannelStatus,
    Page,
    PageChannel,
    Unit,
    UnitLevel,
)
from communepol.errors import NotFound
from communepol.services.followlinks import (
    FollowLink,
    follow_links,
    page_id_from_payload,
    start_payload,
)
from communepol.settings import Settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
SVG = "{http://www.w3.org/2000/svg}"
BASE_URL = "http://127.0.0.1:8080"  # the settings fixture's public_base_url
SCALE = 10  # pixels per module
BORDER = 4  # modules of quiet zone


@dataclass
class Setup:
    page: Page
    telegram: ChannelAccount
    zalo_oa: ChannelAccount
    no_handle: ChannelAccount
    paused: ChannelAccount
    elsewhere: ChannelAccount  # carries another page only

    @property
    def telegram_url(self) -> str:
        return f"https://t.me/ca_ea_kar_bot?start=p{self.page.id}"

    @property
    def zalo_url(self) -> str:
        return "https://zalo.me/2846123456789012345"

    @property
    def web_url(self) -> str:
        return f"{BASE_URL}/p/ca-xa-ea-kar?follow=1"


async def _account(
    kind: ChannelKind, handle: str | None, page: Page, **fields: Any
) -> ChannelAccount:
    account = await ChannelAccount.create(
        kind=kind, name=f"{kind.value} account", public_handle=handle, **fields
    )
    await PageChannel.create(page=page, channel_account=account)
    return account


async def _setup() -> Setup:
    unit = await Unit.create(
        code="66001", level=UnitLevel.COMMUNE, kind="Xã", name="Xã Ea Kar", name_folded="xa ea kar"
    )
    page = await Page.create(unit=unit, slug="ca-xa-ea-kar", title="Công an xã Ea Kar")
    other = await Page.create(unit=unit, slug="ca-xa-khac", title="Công an xã Khác")
    setup = Setup(
        page=page,
        telegram=await _account(ChannelKind.TELEGRAM, "@ca_ea_kar_bot", page),
        zalo_oa=await _account(ChannelKind.ZALO_OA, "2846123456789012345", page),
        no_handle=await _account(ChannelKind.ZALO_BOT, None, page),
        paused=await _account(
            ChannelKind.TELEGRAM, "paused_bot", page, status=ChannelStatus.PAUSED
        ),
        elsewhere=await _account(ChannelKind.ZALO_OA, "999888777", other),
    )
    # The web chat lives on the page itself: it is never a link of its own.
    await _account(ChannelKind.WEBCHAT, "webchat", page)
    return setup


def _matrix_of(url: str) -> list[list[bool]]:
    """What a scanner would have to see for ``url``: segno's own code at level M."""
    code = segno.make_qr(url, error="m", boost_error=False)
    return [[bool(module) for module in row] for row in code.matrix]


def _png_modules(data: bytes) -> list[list[bool]]:
    """Decode a 1-bit greyscale PNG (the format of the codes) into its QR modules, dark =
    True, checking the picture's size and its white quiet zone on the way."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) == (1, 0, 0)
    assert width == height and width % SCALE == 0
    size = width // SCALE - 2 * BORDER
    assert 21 <= size <= 177 and (size - 21) % 4 == 0  # QR versions 1 to 40
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = (width + 7) // 8
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        filter_type, row = line[0], bytearray(line[1:])
        for i in range(stride):  # undo the PNG filters; a 1-bit image has 1 byte per "pixel"
            left = row[i - 1] if i else 0
            up, up_left = previous[i], previous[i - 1] if i else 0
            if filter_type == 1:
                row[i] = (row[i] + left) & 0xFF
            elif filter_type == 2:
                row[i] = (row[i] + up) & 0xFF
            elif filter_type == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                row[i] = (row[i] + predictor) & 0xFF
            else:
                assert filter_type == 0
        rows.append(bytes(row))
        previous = bytes(row)

    def dark(x: int, y: int) -> bool:
        return not (rows[y][x // 8] >> (7 - x % 8)) & 1  # 0 is black in greyscale

    total = size + 2 * BORDER
    pixels = [
        [dark(c * SCALE + SCALE // 2, r * SCALE + SCALE // 2) for c in range(total)]
        for r in range(total)
    ]
    quiet = [
        p
        for r, line in enumerate(pixels)
        for c, p in enumerate(line)
        if not (BORDER <= r < BORDER + size and BORDER <= c < BORDER + size)
    ]
    assert not any(quiet)
    return [line[BORDER : BORDER + size] for line in pixels[BORDER : BORDER + size]]


def _svg_modules(root: ET.Element) -> list[list[bool]]:
    """The modules drawn by segno's SVG path (``M x y``, ``m dx dy``, ``h n`` on module rows)."""
    [path] = [p for p in root.iter(f"{SVG}path") if p.get("class") == "qrline"]
    assert path.get("stroke") == "#000"
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?: (-?[\d.]+))?", path.get("d", "")):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            end = x + float(a) if command == "h" else float(a)
            dark.update((int(y - 0.5), column) for column in range(int(x), int(end)))
            x = end
    size = max(max(r, c) for r, c in dark) + 1 - BORDER
    assert all(BORDER <= r < BORDER + size and BORDER <= c < BORDER + size for r, c in dark)
    return [[(r + BORDER, c + BORDER) in dark for c in range(size)] for r in range(size)]


# --- the links -------------------------------------------------------------------------------


async def test_links_are_the_active_handled_accounts_and_the_web(db: TortoiseContext) -> None:
    setup = await _setup()
    material = await follow_links("ca-xa-ea-kar", BASE_URL)
    assert (material.slug, material.title, material.unit_name) == (
        "ca-xa-ea-kar",
        "Công an xã Ea Kar",
        "Xã Ea Kar",
    )
    # Zalo first (what most residents use), the web last; no handle, paused, web chat and the
    # other page's account are not there.
    assert material.links == [
        FollowLink(str(setup.zalo_oa.id), ChannelKind.ZALO_OA, "Zalo", setup.zalo_url),
        FollowLink(str(setup.telegram.id), ChannelKind.TELEGRAM, "Telegram", setup.telegram_url),
        FollowLink("web", None, "Web page", setup.web_url),
    ]
    assert setup.telegram_url.endswith(f"?start=p{setup.page.id}")


async def test_a_page_with_no_channels_still_has_its_web_link(db: TortoiseContext) -> None:
    await _setup()
    material = await follow_links("ca-xa-khac", BASE_URL + "/")
    assert [link.channel for link in material.links][-1] == "web"
    assert material.links[-1].url == f"{BASE_URL}/p/ca-xa-khac?follow=1"


async def test_unknown_or_inactive_page_is_not_found(db: TortoiseContext) -> None:
    setup = await _setup()
    with pytest.raises(NotFound):
        await follow_links("no-such-page", BASE_URL)
    setup.page.active = False
    await setup.page.save()
    with pytest.raises(NotFound):
        await follow_links("ca-xa-ea-kar", BASE_URL)


def test_start_payload_round_trips_and_rejects_anything_else() -> None:
    assert start_payload(12) == "p12"
    assert page_id_from_payload("p12") == 12
    assert page_id_from_payload(start_payload(2_147_483_647)) == 2_147_483_647
    for payload in ("p", "x12", "p12a", "p-1", "", "P12", " p12", "p12\n", "p012", "p0", "p١٢"):
        assert page_id_from_payload(payload) is None, payload
    assert page_id_from_payload("p99999999999") is None  # larger than any page id


# --- the QR codes ----------------------------------------------------------------------------


async def test_png_encodes_exactly_the_follow_link(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings, run_workers=False))
    setup = await _setup()
    for channel, url in [
        (str(setup.telegram.id), setup.telegram_url),
        (str(setup.zalo_oa.id), setup.zalo_url),
        ("web", setup.web_url),
    ]:
        response = await client.get(f"/p/ca-xa-ea-kar/qr/{channel}.png")
        assert response.status == 200
        assert response.content_type == "image/png"
        assert response.headers["Cache-Control"] == "public, max-age=3600"
        modules = _png_modules(await response.read())
        assert modules == _matrix_of(url)
        wrong = url[:-1] + ("2" if url[-1] != "2" else "3")  # p12 → p13, …?follow=1 → =2
        assert modules != _matrix_of(wrong)


async def test_svg_is_xml_and_encodes_exactly_the_follow_link(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings, run_workers=False))
    setup = await _setup()
    response = await client.get(f"/p/ca-xa-ea-kar/qr/{setup.telegram.id}.svg")
    assert response.status == 200
    assert response.content_type == "image/svg+xml"
    root = ET.fromstring(await response.read())
    assert root.tag == f"{SVG}svg"
    assert root.findtext(f"{SVG}title") == setup.telegram_url
    assert _svg_modules(root) == _matrix_of(setup.telegram_url)
    assert _svg_modules(root) != _matrix_of(setup.zalo_url)


async def test_a_matching_etag_gets_304(settings: Settings, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(settings, run_workers=False))
    await _setup()
    first = await client.get("/p/ca-xa-ea-kar/qr/web.png")
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await client.get("/p/ca-xa-ea-kar/qr/web.png", headers={"If-None-Match": header})
        assert again.status == 304, header
        assert again.headers["ETag"] == etag
        assert await again.read() == b""
    changed = await client.get("/p/ca-xa-ea-kar/qr/web.png", headers={"If-None-Match": '"old"'})
    assert changed.status == 200
    svg = await client.get("/p/ca-xa-ea-kar/qr/web.svg", headers={"If-None-Match": etag})
    assert svg.status == 200 and svg.headers["ETag"] != etag  # one tag per format


async def test_codes_of_what_is_not_a_link_of_the_page_are_404(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings, run_workers=False))
    setup = await _setup()
    for path in [
        "/p/no-such-page/qr/web.png",
        "/p/ca-xa-ea-kar/qr/99999.png",
        "/p/ca-xa-ea-kar/qr/telegram.svg",
        f"/p/ca-xa-ea-kar/qr/{setup.elsewhere.id}.png",  # another page's account
        f"/p/ca-xa-ea-kar/qr/{setup.paused.id}.svg",
        f"/p/ca-xa-ea-kar/qr/{setup.no_handle.id}.png",
        "/p/ca-xa-ea-kar/qr/web.gif",
        "/p/no-such-page/poster",
    ]:
        response = await client.get(path)
        assert response.status == 404, path
        assert "Traceback" not in await response.text()
    assert (await client.get(f"/p/ca-xa-khac/qr/{setup.elsewhere.id}.png")).status == 200


# --- the poster ------------------------------------------------------------------------------


async def test_the_poster_lists_every_link_with_its_code(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings, run_workers=False))
    setup = await _setup()
    response = await client.get("/p/ca-xa-ea-kar/poster?lang=en")
    assert response.status == 200
    html = await response.text()
    assert '<html lang="en">' in html
    assert "Công an xã Ea Kar" in html
    for channel, name, url in [
        (setup.zalo_oa.id, "Zalo", setup.zalo_url),
        (setup.telegram.id, "Telegram", setup.telegram_url),
        ("web", "Web page", setup.web_url),
    ]:
        image = f'<img src="/p/ca-xa-ea-kar/qr/{channel}.svg"'
        assert f'{image} alt="QR code to follow this page: {name}"' in html
        assert f"<h2>{name}</h2>" in html
        assert f'<p class="poster-url">{url.replace("&", "&amp;")}</p>' in html
    assert "paused_bot" not in html and "999888777" not in html
    assert html.count("<img ") == 3
    assert "Scan the code with Zalo or your camera to follow this page." in html
    assert "Scan the code with your camera to follow this page on Telegram." in html
    assert "Scan the code with your camera to open this page on the web." in html
    # Every code the poster shows can be fetched.
    for src in re.findall(r'<img src="([^"]+)"', html):
        assert (await client.get(src)).status == 200

    page = await (await client.get("/p/ca-xa-ea-kar?lang=en")).text()
    assert 'href="/p/ca-xa-ea-kar/poster?lang=en"' in page


async def test_the_poster_is_in_vietnamese_by_default(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    """Needs the Vietnamese translations of the poster's messages in locales/vi."""
    client = await aiohttp_client(create_app(settings, run_workers=False))
    await _setup()
    html = await (await client.get("/p/ca-xa-ea-kar/poster")).text()
    assert '<html lang="vi">' in html
    assert "<h2>Trang web</h2>" in html
    assert "Quét mã bằng Zalo hoặc camera điện thoại để theo dõi trang này." in html
    assert "Quét mã bằng camera điện thoại để theo dõi trang này trên Telegram." in html
    assert "Quét mã bằng camera điện thoại để mở trang này trên web." in html
    assert 'alt="Mã QR để theo dõi trang này: Zalo"' in html
    assert '<p class="poster-emergency">Trường hợp khẩn cấp, hãy gọi 113.</p>' in html
    assert "Scan the code" not in html
