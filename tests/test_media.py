"""Attachments: recognised by bytes, photo metadata stripped, stored once by content, kept inside
the store. Every file is built here, byte by byte, so the tests need no fixtures or network."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from communepol.errors import NotFound, ValidationError
from communepol.media import (
    GIF,
    IMAGE_CONTENT_TYPES,
    JPEG,
    PDF,
    PNG,
    WEBP,
    MediaStore,
    MediaType,
    jpeg_segments,
    png_chunks,
    riff_chunks,
    sniff,
    strip_metadata,
)

# Buôn Ma Thuột, as a phone writes it: 12° 40' 55" N, 108° 2' 17" E.
LATITUDE = ((12, 1), (40, 1), (5500, 100))
LONGITUDE = ((108, 1), (2, 1), (1700, 100))
PERSONAL = b"Nguyen Van A"


# --- building files ---------------------------------------------------------------------------


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _tiff(
    entries: list[tuple[int, int, int, bytes]], gps: list[tuple[int, int, int, bytes]]
) -> bytes:
    """A big-endian TIFF with IFD0 ``entries`` and, when ``gps`` is given, a GPS IFD.

    Each entry is (tag, type, count, value); values over 4 bytes go after the IFDs."""
    ifd0_size = 2 + 12 * (len(entries) + (1 if gps else 0)) + 4
    gps_offset = 8 + ifd0_size
    gps_size = 2 + 12 * len(gps) + 4 if gps else 0
    extra = bytearray()
    extra_base = gps_offset + gps_size

    def ifd(items: list[tuple[int, int, int, bytes]], next_ifd: int = 0) -> bytes:
        out = struct.pack(">H", len(items))
        for tag, kind, count, value in sorted(items):
            if len(value) <= 4:
                out += struct.pack(">HHI", tag, kind, count) + value.ljust(4, b"\x00")
            else:
                out += struct.pack(">HHII", tag, kind, count, extra_base + len(extra))
                extra.extend(value)
        return out + struct.pack(">I", next_ifd)

    ifd0_items = list(entries)
    if gps:
        ifd0_items.append((0x8825, 4, 1, struct.pack(">I", gps_offset)))  # GPSInfo pointer
    ifd0 = ifd(ifd0_items)
    gps_ifd = ifd(gps) if gps else b""
    return b"MM\x00*" + struct.pack(">I", 8) + ifd0 + gps_ifd + bytes(extra)


def _rationals(values: tuple[tuple[int, int], ...]) -> bytes:
    return b"".join(struct.pack(">II", n, d) for n, d in values)


def exif_payload(*, orientation: int | None = None) -> bytes:
    entries = [
        (0x010F, 2, 6, b"Phone\x00"),  # Make
        (0x013B, 2, len(PERSONAL) + 1, PERSONAL + b"\x00"),  # Artist
    ]
    if orientation is not None:
        entries.append((0x0112, 3, 1, struct.pack(">H", orientation)))
    gps = [
        (0x0001, 2, 2, b"N\x00"),
        (0x0002, 5, 3, _rationals(LATITUDE)),
        (0x0003, 2, 2, b"E\x00"),
        (0x0004, 5, 3, _rationals(LONGITUDE)),
    ]
    return b"Exif\x00\x00" + _tiff(entries, gps)


# A 16×8 grey-scale baseline JPEG, restart interval 1: the first block is white (DC difference
# 2047, category 11, whose code starts with eight 1 bits, so the scan holds a stuffed FF 00),
# then RST0, then a mid-grey block. Standard luminance DC table, a one-symbol AC table (EOB).
_DQT = _segment(0xDB, b"\x00" + b"\x01" * 64)
_SOF0 = _segment(0xC0, b"\x08\x00\x08\x00\x10\x01\x01\x11\x00")
_DHT_DC = _segment(
    0xC4, b"\x00" + bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]) + bytes(range(12))
)
_DHT_AC = _segment(0xC4, b"\x10" + bytes([0, 1] + [0] * 14) + b"\x00")
_DRI = _segment(0xDD, b"\x00\x01")
_SOS = _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
_SCAN = b"\xff\x00\x7f\xf3" + b"\xff\xd0" + b"\x0f"
_JFIF = _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
IMAGE_DATA = _SOS + _SCAN + b"\xff\xd9"


def jpeg(*metadata: bytes, jfif: bytes = _JFIF, trailer: bytes = b"") -> bytes:
    tables = _DQT + _SOF0 + _DHT_DC + _DHT_AC + _DRI
    return b"\xff\xd8" + jfif + b"".join(metadata) + tables + IMAGE_DATA + trailer


def phone_jpeg(*, orientation: int | None = None) -> bytes:
    return jpeg(
        _segment(0xE1, exif_payload(orientation=orientation)),
        _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta exif:GPSLatitude='12,40N'/>"),
        _segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + b"\x00" * 40 + b"desc iPhone of Nguyen Van A"),
        _segment(0xED, b"Photoshop 3.0\x00" + PERSONAL),
        _segment(0xFE, b"taken at the house of " + PERSONAL),
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_IHDR = _chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
_IDAT = _chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00\x00\xff\x00\x00\x00\x00\xff\xff\xff\xff"))
_IEND = _chunk(b"IEND", b"")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def phone_png() -> bytes:
    return PNG_SIGNATURE + b"".join(
        [
            _IHDR,
            _chunk(b"gAMA", struct.pack(">I", 45455)),
            _chunk(b"iCCP", b"Phone profile\x00\x00" + zlib.compress(PERSONAL)),
            _chunk(b"tEXt", b"Author\x00" + PERSONAL),
            _chunk(b"tEXt", b"GPS\x0012.6819,108.0381"),
            _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"home of " + PERSONAL)),
            _chunk(b"iTXt", b"Location\x00\x00\x00vi\x00\x00Bu\xc3\xb4n Ma Thu\xe1\xbb\x99t"),
            _chunk(b"eXIf", exif_payload()[6:]),
            _chunk(b"tIME", struct.pack(">HBBBBB", 2025, 7, 1, 8, 30, 0)),
            _chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)),
            _IDAT,
            _IEND,
        ]
    )


def _riff(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def webp(*chunks: bytes, trailer: bytes = b"") -> bytes:
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body + trailer


# A VP8L header for a 1×1 image followed by opaque bits; only the container is at stake here.
VP8L = b"\x2f\x00\x00\x00\x00\x88\x88\x08"
VP8X_ALL = bytes([0x20 | 0x10 | 0x08 | 0x04]) + b"\x00\x00\x00" + b"\x00\x00\x00\x00\x00\x00"


def phone_webp() -> bytes:
    return webp(
        _riff(b"VP8X", VP8X_ALL),
        _riff(b"ICCP", b"profile of " + PERSONAL),
        _riff(b"ALPH", b"\x00\xff"),
        _riff(b"VP8L", VP8L + b"\x01"),  # odd length: padded
        _riff(b"EXIF", exif_payload()[6:] + b"\x00"),
        _riff(b"XMP ", b"<x:xmpmeta exif:GPSLatitude='12,40N'/>"),
    )


_GIF_HEAD = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
_GIF_LOOP = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
_GIF_CONTROL = b"\x21\xf9\x04\x00\x00\x00\x00\x00"
_GIF_IMAGE = b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00"


def phone_gif() -> bytes:
    comment = b"\x21\xfe" + bytes([len(PERSONAL)]) + PERSONAL + b"\x00"
    xmp = b"\x21\xff\x0bXMP DataXMP" + b"\x0a<x:xmpmeta" + b"\x04GPS!" + b"\x00"
    plain_text = b"\x21\x01\x0c" + b"\x00" * 12 + b"\x05hello\x00"
    return _GIF_HEAD + comment + xmp + _GIF_LOOP + _GIF_CONTROL + plain_text + _GIF_IMAGE + b";junk"


# --- sniffing ---------------------------------------------------------------------------------


def test_sniff_reads_the_bytes_only() -> None:
    assert sniff(jpeg()) is JPEG
    assert sniff(phone_png()) is PNG
    assert sniff(phone_webp()) is WEBP
    assert sniff(phone_gif()) is GIF
    assert sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") is PDF
    assert sniff(b"<html><script>alert(1)</script></html>") is None
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert sniff(b"") is None
    assert (JPEG.content_type, JPEG.extension, JPEG.is_image) == ("image/jpeg", "jpg", True)
    assert not PDF.is_image


# --- JPEG -------------------------------------------------------------------------------------


def _scan_from_sos(data: bytes) -> bytes:
    sos = next(s for s in jpeg_segments(data) if s.marker == 0xDA)
    return data[sos.start :]


def test_jpeg_loses_exif_gps_xmp_icc_comments_and_keeps_the_image_data() -> None:
    original = phone_jpeg()
    assert b"Exif" in original and _rationals(LATITUDE) in original  # the test is meaningful

    clean = strip_metadata(original, JPEG)

    for leaked in (b"Exif", b"GPS", b"xmpmeta", b"ICC_PROFILE", b"Photoshop", b"Phone", PERSONAL):
        assert leaked not in clean
    assert _rationals(LATITUDE) not in clean and _rationals(LONGITUDE) not in clean
    assert clean.startswith(b"\xff\xd8") and clean.endswith(b"\xff\xd9")
    assert _scan_from_sos(clean) == _scan_from_sos(original) == IMAGE_DATA
    assert clean == jpeg()  # exactly the file without its metadata
    markers = [segment.marker for segment in jpeg_segments(clean)]
    assert markers == [0xD8, 0xE0, 0xDB, 0xC0, 0xC4, 0xC4, 0xDD, 0xDA, 0xD9]


def test_jpeg_keeps_only_the_orientation_of_its_exif() -> None:
    clean = strip_metadata(phone_jpeg(orientation=6), JPEG)

    # SOI, JFIF, then an APP1 that holds Orientation = 6 and nothing else.
    segments = list(jpeg_segments(clean))
    app1 = next(s for s in segments if s.marker == 0xE1)
    payload = clean[app1.start + 4 : app1.end]
    assert payload == b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03" + (
        b"\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00"
    )
    assert [s.marker for s in segments][:3] == [0xD8, 0xE0, 0xE1]
    for leaked in (b"GPS", b"Phone", PERSONAL):
        assert leaked not in clean
    assert _rationals(LATITUDE) not in clean
    assert _scan_from_sos(clean) == IMAGE_DATA
    # An upright photo needs no orientation at all.
    assert b"Exif" not in strip_metadata(phone_jpeg(orientation=1), JPEG)


def test_jpeg_drops_the_jfif_thumbnail_and_anything_after_the_end_of_image() -> None:
    thumbnail = b"\x02\x01" + bytes(range(6))  # 2×1 RGB pixels of the uncropped picture
    jfif = _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01" + thumbnail)
    motion_photo = b"\x00\x00\x00\x18ftypmp42" + PERSONAL

    clean = strip_metadata(jpeg(jfif=jfif, trailer=motion_photo), JPEG)

    assert clean == jpeg()
    assert b"ftyp" not in clean


def test_jpeg_keeps_the_adobe_colour_transform_record_only() -> None:
    adobe = _segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")
    adobe_with_extra = _segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01" + PERSONAL)

    assert adobe in strip_metadata(jpeg(adobe), JPEG)
    assert strip_metadata(jpeg(adobe_with_extra), JPEG) == jpeg()


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (jpeg()[:30], "cut short"),  # inside the DQT segment
        (phone_jpeg()[:200], "cut short"),  # inside the EXIF segment
        (jpeg()[:-4], "ends inside its image data"),
        (jpeg()[:-2], "ends inside its image data"),
        (b"\xff\xd8\xff", "ends before"),  # stops at a marker prefix
        (b"\xff\xd8" + _JFIF + b"\xff\xd9", "no image data"),
        (b"\xff\xd8" + _JFIF + b"garbage" + IMAGE_DATA, "stray bytes"),
        (b"\xff\xd8\xff\xe1\x00\x01", "cut short"),  # a length below its own size
    ],
)
def test_a_malformed_jpeg_is_refused_with_a_clear_message(broken: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        strip_metadata(broken, JPEG)


def test_a_jpeg_without_its_start_marker_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a valid JPG"):
        strip_metadata(jpeg()[2:], JPEG)
    with pytest.raises(ValidationError, match="start-of-image"):
        list(jpeg_segments(jpeg()[2:]))


# --- PNG --------------------------------------------------------------------------------------


def test_png_loses_text_exif_time_and_profile_and_keeps_the_pixels() -> None:
    original = phone_png()

    clean = strip_metadata(original, PNG)

    kinds = [kind for kind, _, _ in png_chunks(clean)]  # walking it checks every CRC
    assert kinds == [b"IHDR", b"gAMA", b"pHYs", b"IDAT", b"IEND"]
    assert _IDAT in clean and _IHDR in clean
    for leaked in (b"Author", b"GPS", b"Location", b"eXIf", b"MM\x00*", b"Phone", PERSONAL):
        assert leaked not in clean
    assert clean.startswith(PNG_SIGNATURE) and clean.endswith(_IEND)
    for kind, start, end in png_chunks(clean):
        (crc,) = struct.unpack(">I", clean[end - 4 : end])
        assert zlib.crc32(clean[start + 4 : end - 4]) == crc, kind


def test_png_drops_bytes_after_iend() -> None:
    plain = PNG_SIGNATURE + _IHDR + _IDAT + _IEND
    assert strip_metadata(plain + b"<html>" + PERSONAL, PNG) == plain


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (phone_png().replace(b"Author", b"Auth0r"), "checksum"),
        (phone_png()[:70], "cut short"),  # inside the iCCP chunk
        (PNG_SIGNATURE + _IHDR + _IDAT, "ends before its IEND"),
        (PNG_SIGNATURE + _IDAT + _IEND, "IHDR"),
        (PNG_SIGNATURE + _IHDR + _chunk(b"CgBI", b"\x00") + _IDAT + _IEND, "not accepted"),
        (PNG_SIGNATURE + _IHDR + _chunk(b"tE\x00t", b"") + _IEND, "malformed"),
        (PNG_SIGNATURE + _IHDR + _chunk(b"tEXt", b"a\x00b") + _IEND, "no image data"),
    ],
)
def test_a_malformed_png_is_refused(broken: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        strip_metadata(broken, PNG)


# --- WebP -------------------------------------------------------------------------------------


def test_webp_loses_exif_xmp_and_profile_and_their_flags() -> None:
    clean = strip_metadata(phone_webp(), WEBP)

    (riff_size,) = struct.unpack_from("<I", clean, 4)
    assert riff_size == len(clean) - 8
    chunks = list(riff_chunks(clean, 12, len(clean)))
    assert [fourcc for fourcc, _ in chunks] == [b"VP8X", b"ALPH", b"VP8L"]
    vp8x = chunks[0][1]
    assert vp8x[0] == 0x10  # alpha kept; ICC, EXIF and XMP cleared
    assert vp8x[1:] == VP8X_ALL[1:]
    assert chunks[2][1] == VP8L + b"\x01"
    for leaked in (b"EXIF", b"XMP", b"ICCP", b"GPS", b"MM\x00*", b"Phone", PERSONAL):
        assert leaked not in clean


def test_webp_animation_frames_keep_only_their_image_chunks() -> None:
    frame_header = b"\x00" * 6 + b"\x00\x00\x00\x00\x00\x00" + b"\x64\x00\x00" + b"\x00"
    frame = frame_header + _riff(b"VP8L", VP8L) + _riff(b"NOTE", PERSONAL)
    original = webp(
        _riff(b"VP8X", b"\x0a" + b"\x00" * 9),
        _riff(b"ANIM", b"\x00" * 6),
        _riff(b"ANMF", frame),
        trailer=b"<html>",
    )

    clean = strip_metadata(original, WEBP)

    assert PERSONAL not in clean and b"<html>" not in clean
    chunks = dict(riff_chunks(clean, 12, len(clean)))
    assert chunks[b"VP8X"][0] == 0x02  # animation kept, EXIF cleared
    assert chunks[b"ANMF"] == frame_header + _riff(b"VP8L", VP8L)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (phone_webp()[:-3], "cut short"),
        (webp(_riff(b"VP8X", VP8X_ALL), _riff(b"EXIF", b"x")), "no image data"),
        (webp(_riff(b"VP8X", b"\x00\x00"), _riff(b"VP8L", VP8L)), "VP8X"),
        (webp(b"VP8L" + struct.pack("<I", 100) + VP8L), "chunk is cut short"),
    ],
)
def test_a_malformed_webp_is_refused(broken: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        strip_metadata(broken, WEBP)


# --- GIF and PDF ------------------------------------------------------------------------------


def test_gif_keeps_the_picture_and_loop_and_drops_comments_and_other_extensions() -> None:
    clean = strip_metadata(phone_gif(), GIF)

    assert clean == _GIF_HEAD + _GIF_LOOP + _GIF_CONTROL + _GIF_IMAGE + b";"


def test_a_malformed_gif_is_refused() -> None:
    with pytest.raises(ValidationError, match="cut short"):
        strip_metadata(phone_gif()[:40], GIF)
    with pytest.raises(ValidationError, match="stray bytes"):
        strip_metadata(_GIF_HEAD + b"\x99" + _GIF_IMAGE + b";", GIF)
    with pytest.raises(ValidationError, match="no image data"):
        strip_metadata(_GIF_HEAD + _GIF_LOOP + b";", GIF)


def test_a_gif_without_its_trailer_is_completed() -> None:
    assert strip_metadata(_GIF_HEAD + _GIF_IMAGE, GIF) == _GIF_HEAD + _GIF_IMAGE + b";"


def test_pdf_is_returned_unchanged() -> None:
    document = b"%PDF-1.4\n1 0 obj << /Author (Staff) >> endobj\n%%EOF\n"
    assert strip_metadata(document, PDF) == document


def test_strip_metadata_refuses_bytes_of_another_kind() -> None:
    with pytest.raises(ValidationError, match="not a valid PNG"):
        strip_metadata(jpeg(), PNG)


# --- any damage: a ValidationError or a clean file, never a crash -------------------------------

SAMPLES = [
    (phone_jpeg(orientation=8), JPEG),
    (phone_png(), PNG),
    (phone_webp(), WEBP),
    (phone_gif(), GIF),
]


@settings(max_examples=300, deadline=None)
@given(
    sample=st.sampled_from(SAMPLES),
    cut=st.integers(min_value=0, max_value=700),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=4),
)
def test_damaged_files_are_refused_or_cleaned_never_crash(
    sample: tuple[bytes, MediaType], cut: int, flips: list[tuple[int, int]]
) -> None:
    original, media_type = sample
    damaged = bytearray(original[: max(cut, 12)])
    for position, value in flips:
        index = position % len(damaged)
        if index >= 12:  # keep the magic bytes, so the format's own walker is exercised
            damaged[index] = value
    try:
        clean = strip_metadata(bytes(damaged), media_type)
    except ValidationError:
        return
    assert sniff(clean) is media_type
    assert strip_metadata(clean, media_type) == clean  # cleaning is idempotent


# --- the store --------------------------------------------------------------------------------


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_save_stores_the_cleaned_bytes_under_their_content_address(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")

    stored = store.save(phone_jpeg(), allowed=IMAGE_CONTENT_TYPES, max_bytes=1_000_000)

    clean = jpeg()
    digest = hashlib.sha256(clean).hexdigest()
    assert stored.sha256 == digest
    assert stored.path == f"{digest[:2]}/{digest}.jpg"
    assert (stored.size, stored.content_type) == (len(clean), "image/jpeg")
    target = tmp_path / "media" / digest[:2] / f"{digest}.jpg"
    assert target.read_bytes() == clean
    assert _files(tmp_path / "media") == [target]  # no temporary file left behind
    assert target.stat().st_mode & 0o777 == 0o600
    assert store.open_path(stored.path) == target.resolve()


def test_the_same_content_is_stored_once(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")

    first = store.save(phone_jpeg(), allowed={"image/jpeg"}, max_bytes=10_000)
    again = store.save(phone_jpeg(), allowed={"image/jpeg"}, max_bytes=10_000)
    bare = store.save(jpeg(), allowed={"image/jpeg"}, max_bytes=10_000)  # differs by metadata

    assert first == again == bare
    assert len(_files(tmp_path / "media")) == 1


def test_save_decides_by_the_bytes_not_the_name_or_declared_type(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    # An upload named photo.jpg, declared image/jpeg, that is really a web page.
    html = b"<html><body><script>document.location='https://evil.example'</script></body></html>"

    with pytest.raises(ValidationError, match="this kind of file is not accepted"):
        store.save(html, allowed=IMAGE_CONTENT_TYPES, max_bytes=10_000)
    with pytest.raises(ValidationError, match="this kind of file is not accepted"):
        store.save(b"%PDF-1.7\n", allowed=IMAGE_CONTENT_TYPES, max_bytes=10_000)
    with pytest.raises(ValidationError, match="this kind of file is not accepted"):
        store.save(phone_png(), allowed={"image/jpeg"}, max_bytes=10_000)
    assert not (tmp_path / "media").exists() or _files(tmp_path / "media") == []


def test_save_refuses_empty_oversize_and_broken_files(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    photo = phone_jpeg()

    with pytest.raises(ValidationError, match="empty") as empty:
        store.save(b"", allowed=IMAGE_CONTENT_TYPES, max_bytes=10_000)
    assert empty.value.field == "file"
    with pytest.raises(ValidationError, match="larger than"):
        store.save(photo, allowed=IMAGE_CONTENT_TYPES, max_bytes=len(photo) - 1)
    with pytest.raises(ValidationError, match="larger than 10 MB"):
        store.save(b"\xff\xd8\xff" * (4 * 1024 * 1024), allowed={"image/jpeg"}, max_bytes=10 << 20)
    with pytest.raises(ValidationError, match="checksum"):
        store.save(phone_png().replace(b"Author", b"Auth0r"), allowed={"image/png"}, max_bytes=9999)
    assert not (tmp_path / "media").exists() or _files(tmp_path / "media") == []


def test_a_staff_pdf_is_stored_as_is(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    document = b"%PDF-1.4\n%%EOF\n"

    stored = store.save(document, allowed={"application/pdf"}, max_bytes=10_000)

    assert stored.path.endswith(".pdf") and stored.content_type == "application/pdf"
    assert store.open_path(stored.path).read_bytes() == document


def test_open_path_refuses_anything_outside_the_store(tmp_path: Path) -> None:
    root = tmp_path / "media"
    store = MediaStore(root)
    stored = store.save(jpeg(), allowed={"image/jpeg"}, max_bytes=10_000)
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    digest = "ab" + "c" * 62

    # A link with a well-formed name that leads out of the store.
    (root / "ab").mkdir()
    (root / "ab" / f"{digest}.jpg").symlink_to(secret)
    # A fan-out directory that is itself a link out of the store.
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    (outside_dir / f"{'cd' * 32}.png").write_bytes(b"x")
    (root / "cd").symlink_to(outside_dir, target_is_directory=True)

    for bad in (
        "../x",
        "/etc/passwd",
        "../secret.txt",
        f"../media/{stored.path}",
        f"/{stored.path}",
        f"{stored.path}/",
        stored.path.replace("/", "\\"),
        stored.path.upper(),
        f"ab/{digest}.jpg",
        f"cd/{'cd' * 32}.png",
        f"ab/{'d' * 64}.jpg",  # prefix not matching the digest
        f"{digest[:2]}/{digest}.exe",
        f"ef/ef{'0' * 62}.jpg",  # well-formed but missing
        "",
    ):
        with pytest.raises(NotFound):
            store.open_path(bad)
    assert store.open_path(stored.path).read_bytes() == jpeg()


def test_delete_removes_a_file_and_ignores_a_missing_one(tmp_path: Path) -> None:
    root = tmp_path / "media"
    store = MediaStore(root)
    stored = store.save(jpeg(), allowed={"image/jpeg"}, max_bytes=10_000)

    store.delete(stored.path)
    store.delete(stored.path)  # already gone
    MediaStore(tmp_path / "never-created").delete(stored.path)

    with pytest.raises(NotFound):
        store.open_path(stored.path)
    assert _files(root) == []
    with pytest.raises(NotFound):
        store.delete("../secret.txt")


def test_delete_of_a_link_leaves_its_target_alone(tmp_path: Path) -> None:
    root = tmp_path / "media"
    store = MediaStore(root)
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    digest = "ab" + "c" * 62
    (root / "ab").mkdir(parents=True)
    link = root / "ab" / f"{digest}.jpg"
    link.symlink_to(secret)

    store.delete(f"ab/{digest}.jpg")

    assert not os.path.lexists(link)
    assert secret.read_text() == "outside"
