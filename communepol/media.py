"""Attachments on disk: recognised by their bytes, stripped of photo metadata, stored by content.

A photo from a phone says where and when it was taken, by which device, often by whom, and
carries a thumbnail of the uncropped picture. None of that may reach a page follower or
outlive a tip, so every image is rewritten before it is stored (`strip_metadata`):

- **JPEG** — the marker segments are walked up to the end of image. Kept: APP0 when it is
  JFIF (its optional thumbnail removed), the Adobe APP14 header when it is only the 12-byte
  colour-transform record (without it CMYK and RGB-coded JPEGs decode with wrong colours),
  DQT, DHT, DAC, DRI, DNL, SOF*, SOS and the entropy-coded data unchanged, RST markers inside
  it. Dropped: every other APPn (EXIF with GPS and the thumbnail, XMP, the ICC profile, MPF,
  Photoshop IRB…), COM, unknown segments, and everything after EOI (motion-photo videos and
  other trailers). The EXIF *Orientation* alone is carried over, as a fresh 34-byte EXIF
  segment holding that one tag, because phones store pictures sideways and rely on it.
- **PNG** — kept: the signature and IHDR, PLTE, IDAT, IEND, tRNS, gAMA, cHRM, sRGB, bKGD,
  pHYs, sBIT. Dropped: text (tEXt, zTXt, iTXt), eXIf, tIME, iCCP, every other ancillary
  chunk (so an animated PNG becomes its still default image) and anything after IEND.
  An unknown *critical* chunk is refused: no viewer could draw that file anyway.
- **WebP** — kept: VP8X (its ICC, EXIF and XMP flags cleared), VP8, VP8L, ALPH, ANIM and
  ANMF frames (only their ALPH/VP8/VP8L sub-chunks). Dropped: EXIF, XMP, ICCP, unknown
  chunks and anything after the RIFF size; the RIFF size is rewritten.
- **GIF** — kept: header, screen descriptor and colour tables, graphic control extensions,
  images, and the looping extension (rewritten as a bare NETSCAPE2.0 loop count). Dropped:
  comments, plain-text extensions, every other application extension (XMP rides in one),
  and anything after the trailer.
- **PDF** — returned unchanged: a PDF cannot be cleaned safely without a full parser. Only
  staff may upload one, and residents may attach one to a tip (callers pass ``allowed``
  accordingly); officers are told a PDF is kept as it was sent.
- **Voice notes** (Ogg/Opus from Telegram, M4A/AAC and AMR from Zalo, MP3) — returned
  unchanged, for tips only: a voice note the messaging app recorded carries the codec and its
  settings, not a place or a device. Video is not accepted: phones write the place a video was
  shot into its container.

A file that is cut short or does not follow its format raises `ValidationError`, never
something half-cleaned: the walkers check every length (and every PNG CRC) before using it.
The kind of a file is decided by its bytes (`sniff`), never by its name or declared type.

`MediaStore` keeps the cleaned bytes under ``<data_dir>/media/<sha256[:2]>/<sha256>.<ext>``,
written atomically (temporary file in the same directory, fsync, rename, fsync of the
directory), files 0600 and directories 0700. Identical content is one file: a caller that
erases an attachment must first make sure no other row still refers to the same path.
Deleting unlinks the file; it does not overwrite disk blocks. The methods do blocking file
I/O: call them through ``asyncio.to_thread`` from the event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from communepol.errors import NotFound, ValidationError
from communepol.i18n import _


@dataclass(frozen=True, slots=True)
class MediaType:
    """A kind of file the service recognises."""

    content_type: str
    extension: str
    is_image: bool


JPEG = MediaType("image/jpeg", "jpg", is_image=True)
PNG = MediaType("image/png", "png", is_image=True)
WEBP = MediaType("image/webp", "webp", is_image=True)
GIF = MediaType("image/gif", "gif", is_image=True)
PDF = MediaType("application/pdf", "pdf", is_image=False)
OGG = MediaType("audio/ogg", "ogg", is_image=False)
M4A = MediaType("audio/mp4", "m4a", is_image=False)
AMR = MediaType("audio/amr", "amr", is_image=False)
MP3 = MediaType("audio/mpeg", "mp3", is_image=False)
MEDIA_TYPES = (JPEG, PNG, WEBP, GIF, PDF, OGG, M4A, AMR, MP3)
AUDIO_CONTENT_TYPES = frozenset(
    (OGG.content_type, M4A.content_type, AMR.content_type, MP3.content_type)
)
IMAGE_CONTENT_TYPES = frozenset(t.content_type for t in MEDIA_TYPES if t.is_image)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sniff(data: bytes) -> MediaType | None:
    """The kind of ``data`` by its leading bytes, or None for anything not accepted."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(_PNG_SIGNATURE):
        return PNG
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"OggS"):
        return OGG
    if data.startswith(b"#!AMR"):
        return AMR
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:11] == b"M4A":
        return M4A  # the audio-only brand; any other MP4 may be a video
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return MP3
    return None


def strip_metadata(data: bytes, media_type: MediaType) -> bytes:
    """``data`` rewritten without the metadata listed in the module docstring.

    Raises `ValidationError` when ``data`` is not a well-formed file of ``media_type``."""
    if sniff(data) != media_type:
        raise ValidationError(
            _("the file is not a valid {kind}"), kind=media_type.extension.upper()
        )
    return _STRIPPERS[media_type.content_type](data)


# --- JPEG -------------------------------------------------------------------------------------

_SOI, _EOI, _SOS, _APP0, _APP1, _APP14 = 0xD8, 0xD9, 0xDA, 0xE0, 0xE1, 0xEE
# SOF0–SOF15 share C0–CF with DHT (C4) and DAC (CC), both needed to decode; C8 is reserved.
# DQT, DNL, DRI, DHP, EXP are structural too. Anything not listed here is dropped.
_JPEG_KEEP = frozenset(m for m in range(0xC0, 0xD0) if m != 0xC8) | {0xDB, 0xDC, 0xDD, 0xDE, 0xDF}
_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True, slots=True)
class JpegSegment:
    """One marker segment of a JPEG, as offsets into the file.

    ``data[start:end]`` is the marker (without fill bytes), its length field and payload;
    for SOS it also holds the entropy-coded scan that follows, up to the next marker."""

    marker: int
    start: int
    end: int


def jpeg_segments(data: bytes) -> Iterator[JpegSegment]:
    """The segments of a JPEG from SOI to EOI, each length checked before it is used.

    Raises `ValidationError` on a missing SOI, a segment or scan cut short, a missing EOI or
    bytes where a marker must be."""
    if not data.startswith(b"\xff\xd8"):
        raise ValidationError(_("the JPEG does not start with a start-of-image marker"))
    yield JpegSegment(_SOI, 0, 2)
    pos, size = 2, len(data)
    while True:
        if pos >= size:
            raise ValidationError(_("the JPEG ends before its end-of-image marker"))
        if data[pos] != 0xFF:
            raise ValidationError(
                _("the JPEG has stray bytes where a marker should be (byte {pos})"), pos=pos
            )
        while pos + 1 < size and data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos + 1 >= size:
            raise ValidationError(_("the JPEG ends before its end-of-image marker"))
        marker = data[pos + 1]
        if marker == _EOI:
            yield JpegSegment(marker, pos, pos + 2)
            return
        if marker in (0x00, _SOI):
            raise ValidationError(_("the JPEG has a misplaced marker (byte {pos})"), pos=pos)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length field
            yield JpegSegment(marker, pos, pos + 2)
            pos += 2
            continue
        if pos + 4 > size:
            raise ValidationError(_("a JPEG segment is cut short"))
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > size:
            raise ValidationError(_("a JPEG segment is cut short"))
        if marker == _SOS:
            end = _scan_end(data, end)
        yield JpegSegment(marker, pos, end)
        pos = end


def _scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data starting at ``pos`` ends: the next real marker."""
    size = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0:
            raise ValidationError(_("the JPEG ends inside its image data"))
        after = pos + 1
        while after < size and data[after] == 0xFF:
            after += 1
        if after >= size:
            raise ValidationError(_("the JPEG ends inside its image data"))
        if data[after] == 0x00 or 0xD0 <= data[after] <= 0xD7:  # stuffed byte, restart marker
            pos = after + 1
            continue
        return pos


def _strip_jpeg(data: bytes) -> bytes:
    head: list[bytes] = []  # JFIF APP0, then the orientation EXIF: both belong right after SOI
    body: list[bytes] = []
    orientation: int | None = None
    scans = 0
    for segment in jpeg_segments(data):
        marker, chunk = segment.marker, data[segment.start : segment.end]
        if marker == _APP0:
            if not head and chunk[4:9] == b"JFIF\x00" and len(chunk) >= 18:
                # Bytes 16–17 are the thumbnail's width and height; drop any thumbnail.
                head.append(b"\xff\xe0\x00\x10" + chunk[4:16] + b"\x00\x00")
        elif marker == _APP1:
            if orientation is None:
                orientation = _exif_orientation(chunk[4:])
        elif marker == _APP14:
            if len(chunk) == 16 and chunk[4:9] == b"Adobe":
                body.append(chunk)
        elif marker in _JPEG_KEEP or marker in (_SOS, _EOI):
            body.append(chunk)
            if marker == _SOS:
                scans += 1
        # Everything else — APP2–APP15, COM, TEM, stray RSTn, unknown markers — is dropped.
    if not scans:
        raise ValidationError(_("the JPEG has no image data"))
    if orientation is not None and orientation != 1:
        head.append(_orientation_segment(orientation))
    return b"".join([b"\xff\xd8", *head, *body])


def _exif_orientation(payload: bytes) -> int | None:
    """The Orientation tag (1–8) of IFD0 in an APP1 EXIF payload, or None."""
    if not payload.startswith(_EXIF_HEADER):
        return None
    tiff = payload[len(_EXIF_HEADER) :]
    if tiff[:4] == b"II*\x00":
        order = "<"
    elif tiff[:4] == b"MM\x00*":
        order = ">"
    else:
        return None
    if len(tiff) < 8:
        return None
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        tag, kind, number, value = struct.unpack_from(order + "HHIH", tiff, entry)
        if tag == _ORIENTATION_TAG:
            return value if kind == 3 and number == 1 and 1 <= value <= 8 else None
    return None


def _orientation_segment(orientation: int) -> bytes:
    """An APP1 EXIF segment holding nothing but the Orientation tag."""
    tiff = b"MM\x00*" + struct.pack(">IHHHIHHI", 8, 1, _ORIENTATION_TAG, 3, 1, orientation, 0, 0)
    payload = _EXIF_HEADER + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


# --- PNG --------------------------------------------------------------------------------------

_PNG_KEEP = frozenset(
    {
        *(b"IHDR", b"PLTE", b"IDAT", b"IEND"),  # critical
        *(b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"bKGD", b"pHYs", b"sBIT"),  # how to draw it
    }
)


def png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """``(type, start, end)`` of each chunk from IHDR to IEND, length and CRC checked.

    ``data[start:end]`` is the whole chunk: length, type, data and CRC."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValidationError(_("the PNG does not start with the PNG signature"))
    pos, size = len(_PNG_SIGNATURE), len(data)
    while True:
        if pos + 12 > size:
            raise ValidationError(_("the PNG ends before its IEND chunk"))
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            raise ValidationError(_("a PNG chunk is cut short"))
        if not kind.isalpha():
            raise ValidationError(_("the PNG has a malformed chunk (byte {pos})"), pos=pos)
        if pos == len(_PNG_SIGNATURE) and kind != b"IHDR":
            raise ValidationError(_("the PNG does not start with an IHDR chunk"))
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise ValidationError(_("a PNG chunk is damaged (its checksum does not match)"))
        yield kind, pos, end
        if kind == b"IEND":
            return
        pos = end


def _strip_png(data: bytes) -> bytes:
    kept = [_PNG_SIGNATURE]
    for kind, start, end in png_chunks(data):
        if kind in _PNG_KEEP:
            kept.append(data[start:end])
        elif kind[0] & 0x20 == 0:  # an upper-case first letter marks a chunk needed to decode
            raise ValidationError(_("the PNG uses a feature that is not accepted"))
    if not any(chunk[4:8] == b"IDAT" for chunk in kept):
        raise ValidationError(_("the PNG has no image data"))
    return b"".join(kept)


# --- WebP -------------------------------------------------------------------------------------

_WEBP_KEEP = frozenset({b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"})
_WEBP_FRAME_KEEP = frozenset({b"ALPH", b"VP8 ", b"VP8L"})
_WEBP_BITSTREAMS = frozenset({b"VP8 ", b"VP8L", b"ANMF"})
_VP8X_ICC, _VP8X_EXIF, _VP8X_XMP = 0x20, 0x08, 0x04
_ANMF_HEADER = 16


def riff_chunks(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, bytes]]:
    """``(fourcc, payload)`` of each RIFF chunk in ``data[start:end]``, sizes checked."""
    pos = start
    while pos < end:
        if pos + 8 > end:
            raise ValidationError(_("a WebP chunk is cut short"))
        fourcc, length = struct.unpack_from("<4sI", data, pos)
        payload_end = pos + 8 + length
        if payload_end + (length & 1) > end:
            raise ValidationError(_("a WebP chunk is cut short"))
        yield fourcc, data[pos + 8 : payload_end]
        pos = payload_end + (length & 1)  # payloads are padded to an even size


def _riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def _strip_webp(data: bytes) -> bytes:
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = 8 + riff_size
    if riff_size < 4 or end > len(data):
        raise ValidationError(_("the WebP file is cut short"))
    kept: list[bytes] = []
    has_image = False
    for fourcc, payload in riff_chunks(data, 12, end):
        if fourcc not in _WEBP_KEEP:
            continue
        has_image = has_image or fourcc in _WEBP_BITSTREAMS
        if fourcc == b"VP8X":
            if len(payload) < 10:
                raise ValidationError(_("the WebP VP8X chunk is cut short"))
            flags = payload[0] & ~(_VP8X_ICC | _VP8X_EXIF | _VP8X_XMP)
            payload = bytes([flags]) + payload[1:]
        elif fourcc == b"ANMF":
            if len(payload) < _ANMF_HEADER:
                raise ValidationError(_("a WebP animation frame is cut short"))
            frame = [
                _riff_chunk(sub, sub_payload)
                for sub, sub_payload in riff_chunks(payload, _ANMF_HEADER, len(payload))
                if sub in _WEBP_FRAME_KEEP
            ]
            payload = payload[:_ANMF_HEADER] + b"".join(frame)
        kept.append(_riff_chunk(fourcc, payload))
    if not has_image:
        raise ValidationError(_("the WebP file has no image data"))
    body = b"WEBP" + b"".join(kept)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- GIF --------------------------------------------------------------------------------------

_GIF_IMAGE, _GIF_EXTENSION, _GIF_TRAILER = 0x2C, 0x21, 0x3B
_GIF_GRAPHIC_CONTROL, _GIF_APPLICATION = 0xF9, 0xFF
_GIF_LOOP_APPS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


def _gif_sub_blocks(data: bytes, pos: int) -> tuple[list[bytes], int]:
    """The data sub-blocks starting at ``pos`` and the offset after their terminator."""
    blocks: list[bytes] = []
    while True:
        if pos >= len(data):
            raise ValidationError(_("the GIF is cut short"))
        length = data[pos]
        if length == 0:
            return blocks, pos + 1
        if pos + 1 + length > len(data):
            raise ValidationError(_("the GIF is cut short"))
        blocks.append(data[pos + 1 : pos + 1 + length])
        pos += 1 + length


def _gif_colour_table_size(packed: int) -> int:
    return 3 * (1 << ((packed & 0x07) + 1)) if packed & 0x80 else 0


def _strip_gif(data: bytes) -> bytes:
    if len(data) < 13:
        raise ValidationError(_("the GIF is cut short"))
    pos = 13 + _gif_colour_table_size(data[10])
    if pos > len(data):
        raise ValidationError(_("the GIF is cut short"))
    kept = [data[:pos]]
    images = 0
    while pos < len(data) and data[pos] != _GIF_TRAILER:
        introducer = data[pos]
        if introducer == _GIF_IMAGE:
            # Descriptor (9 bytes), local colour table, LZW code size, then the data sub-blocks.
            if pos + 10 > len(data):
                raise ValidationError(_("the GIF is cut short"))
            table_end = pos + 10 + _gif_colour_table_size(data[pos + 9])
            _image_blocks, end = _gif_sub_blocks(data, table_end + 1)
            kept.append(data[pos:end])
            images += 1
        elif introducer == _GIF_EXTENSION:
            if pos + 2 > len(data):
                raise ValidationError(_("the GIF is cut short"))
            label = data[pos + 1]
            blocks, end = _gif_sub_blocks(data, pos + 2)
            if label == _GIF_GRAPHIC_CONTROL:
                kept.append(data[pos:end])
            elif label == _GIF_APPLICATION:
                kept.append(_gif_loop_extension(blocks))
            # Comments (FE), plain text (01) and unknown extensions are dropped.
        else:
            raise ValidationError(
                _("the GIF has stray bytes where a block should be (byte {pos})"), pos=pos
            )
        pos = end
    if not images:
        raise ValidationError(_("the GIF has no image data"))
    # A GIF that stops right after a block is drawn the same with or without the trailer.
    kept.append(b";")
    return b"".join(kept)


def _gif_loop_extension(blocks: list[bytes]) -> bytes:
    """The NETSCAPE2.0 loop count alone, or nothing for any other application extension."""
    if len(blocks) >= 2 and blocks[0] in _GIF_LOOP_APPS:
        loop = blocks[1]
        if len(loop) == 3 and loop[0] == 1:
            return b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + loop[1:3] + b"\x00"
    return b""


# --- PDF --------------------------------------------------------------------------------------


def _keep_unchanged(data: bytes) -> bytes:
    # A PDF's metadata lives in its Info dictionary, XMP streams and in every embedded image;
    # rewriting it needs a full parser. Voice notes hold no place (module docstring).
    return data


_STRIPPERS: dict[str, Callable[[bytes], bytes]] = {
    JPEG.content_type: _strip_jpeg,
    PNG.content_type: _strip_png,
    WEBP.content_type: _strip_webp,
    GIF.content_type: _strip_gif,
    PDF.content_type: _keep_unchanged,
    OGG.content_type: _keep_unchanged,
    M4A.content_type: _keep_unchanged,
    AMR.content_type: _keep_unchanged,
    MP3.content_type: _keep_unchanged,
}


# --- the store --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A file in the store: ``path`` is relative to the store's root, POSIX style."""

    path: str
    sha256: str
    size: int
    content_type: str


_STORED_PATH = re.compile(
    r"([0-9a-f]{2})/\1[0-9a-f]{62}\.(?:" + "|".join(t.extension for t in MEDIA_TYPES) + ")"
)
_MIB = 1024 * 1024


class MediaStore:
    """Cleaned attachments under ``root`` (``settings.data_dir / "media"``), by content."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, data: bytes, *, allowed: Collection[str], max_bytes: int) -> StoredMedia:
        """Check, clean and store ``data``; the same cleaned content is stored once.

        ``allowed`` holds the accepted content types, decided from the bytes alone."""
        if not data:
            raise ValidationError(_("the file is empty"), field="file")
        if len(data) > max_bytes:
            raise ValidationError(
                _("the file is larger than {size:.3g} MB"), field="file", size=max_bytes / _MIB
            )
        media_type = sniff(data)
        if media_type is None or media_type.content_type not in allowed:
            raise ValidationError(_("this kind of file is not accepted"), field="file")
        clean = strip_metadata(data, media_type)
        digest = hashlib.sha256(clean).hexdigest()
        relative = f"{digest[:2]}/{digest}.{media_type.extension}"
        target = self._locate(relative)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        self._check_directory(relative)
        if not _is_stored(target, len(clean)):
            _write_atomically(target, clean)
        return StoredMedia(relative, digest, len(clean), media_type.content_type)

    def open_path(self, relative: str) -> Path:
        """The file stored at ``relative``; `NotFound` for anything else.

        Only paths `save` can produce are accepted, and only when no symbolic link is on the
        way: ``..``, absolute paths and links (even to inside the store) are refused."""
        candidate = self._locate(relative)
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            raise NotFound(_("the file does not exist")) from None
        if resolved != self.root.resolve() / relative or not resolved.is_file():
            raise NotFound(_("the file does not exist"))
        return resolved

    def delete(self, relative: str) -> None:
        """Remove the file stored at ``relative`` (erasure); a missing file is not an error.

        A symbolic link at that place is removed itself; its target is left alone."""
        candidate = self._locate(relative)
        try:
            self._check_directory(relative)
        except FileNotFoundError:
            return
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            _fsync_directory(candidate.parent)

    def _locate(self, relative: str) -> Path:
        if not _STORED_PATH.fullmatch(relative):
            raise NotFound(_("the file does not exist"))
        return self.root / relative

    def _check_directory(self, relative: str) -> None:
        """Refuse a fan-out directory that is a link to somewhere else."""
        directory = (self.root / relative).parent
        if directory.resolve(strict=True) != self.root.resolve() / directory.name:
            raise NotFound(_("the file does not exist"))


def _is_stored(target: Path, size: int) -> bool:
    try:
        return target.is_file() and not target.is_symlink() and target.stat().st_size == size
    except OSError:
        return False


def _write_atomically(target: Path, data: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
