"""HEIC/HEIF, AVIF and JPEG XL where a decoder is installed, the message where none is, and JPEG precisions and
processes that no decoder here reads reported as unsupported, never as corrupt."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, features
from test_same_pixels import PX_SIZES, SIZES, mse, opencv_bytes, photo, thumb

from fastdiff.core import formats
from fastdiff.core.config import DEFAULT_EXTENSIONS, load_config
from fastdiff.core.formats import OPTIONAL_FORMATS, jpeg_frame, missing_decoder, sniff, unsupported_jpeg
from fastdiff.thumbnails.decode import DecodeError, decode_image

REPO = Path(__file__).resolve().parents[1]


def _encoded(fmt: str, rgb: np.ndarray) -> bytes:
    """rgb as a HEIC (pillow-heif), AVIF (Pillow) or lossless JPEG XL (pillow-jxl-plugin) file."""
    buf = io.BytesIO()
    if fmt == "heic":
        pytest.importorskip("pillow_heif")
        Image.fromarray(rgb).save(buf, "HEIF", quality=90)
    elif fmt == "avif":
        if not features.check("avif"):
            pytest.skip("Pillow without AVIF")
        Image.fromarray(rgb).save(buf, "AVIF", quality=90)
    else:
        pytest.importorskip("pillow_jxl")
        Image.fromarray(rgb).save(buf, "JXL", lossless=True)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["heic", "avif", "jxl"])
@pytest.mark.parametrize(("h", "w"), SIZES)
@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_lossless_copy_of_decoded_pixels_has_the_same_thumbnail(tmp_path: Path, fmt: str, h: int, w: int) -> None:
    """As for the other formats (test_same_pixels): the pixels are Pillow's decode of the file whatever its name, and
    a PNG of them thumbnails byte-identically; a lossless JPEG XL decodes to the very pixels encoded."""
    rgb = photo(h, w)
    data = _encoded(fmt, rgb)
    original = tmp_path / f"p.{fmt}"
    original.write_bytes(data)
    decoded = decode_image(str(original)).rgb
    assert decoded.shape == (h, w, 3)
    assert np.array_equal(decoded, np.asarray(Image.open(original).convert("RGB")))
    if fmt == "jxl":
        assert np.array_equal(decoded, rgb)
    misnamed = tmp_path / "p.jpg"  # the same bytes under another name
    misnamed.write_bytes(data)
    assert np.array_equal(decode_image(str(misnamed)).rgb, decoded)
    copy = tmp_path / "copy.png"
    copy.write_bytes(opencv_bytes(decoded[..., ::-1].copy(), ".png"))
    for px_size in PX_SIZES:
        a, b = thumb(original, px_size), thumb(copy, px_size)
        assert a.tobytes() == b.tobytes() and mse(a, b) == 0.0, (fmt, px_size)


def test_optional_formats_are_among_the_default_extensions(tmp_path: Path) -> None:
    """Installed or not, their files are indexed: read, or reported with the extra that reads them."""
    allowed = set(load_config({"part_a": [str(tmp_path)]}).allowed_extensions)
    assert set(DEFAULT_EXTENSIONS) <= allowed
    for fmt in OPTIONAL_FORMATS:
        assert set(fmt.extensions) <= allowed, fmt.name
        assert (missing_decoder(fmt.extensions[0]) is None) == formats.decoder_installed(fmt)
    assert missing_decoder("txt") is None and missing_decoder(None) is None


def test_missing_decoder_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "decoder_installed", lambda fmt: False)
    assert missing_decoder("heic") == "no decoder installed for HEIC: pip install fastdiff[heif]"
    assert missing_decoder("heif") == "no decoder installed for HEIC: pip install fastdiff[heif]"
    assert missing_decoder("avif") == "no decoder installed for AVIF: pip install fastdiff[avif]"
    assert missing_decoder("jxl") == "no decoder installed for JPEG XL: pip install fastdiff[jxl]"


def test_sniff_by_signature() -> None:
    assert sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic").name == "HEIC"
    assert sniff(b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf").name == "AVIF"
    assert sniff(b"\x00\x00\x00\x0cJXL \r\n\x87\n\x00\x00").name == "JPEG XL"
    assert sniff(b"\xff\x0a\xfa\x7f").name == "JPEG XL"
    assert sniff(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isom") is None
    assert sniff(b"\xff\xd8\xff\xe0") is None


NO_PLUGINS = """
import sys
sys.modules["pillow_heif"] = sys.modules["pillow_jxl"] = None  # as if not installed
from fastdiff.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_run_without_decoders_names_the_extra(tmp_path: Path) -> None:
    """With pillow-heif and pillow-jxl-plugin missing, HEIC and JPEG XL files (also a HEIC named .jpg) are reported
    with the extra that reads them; HEIC is then left out of the default extensions."""
    pytest.importorskip("pillow_heif")
    pytest.importorskip("pillow_jxl")
    if "JPEG XL" in formats._opencv_decoders():
        pytest.skip("OpenCV reads JPEG XL here")
    folder = tmp_path / "in"
    folder.mkdir()
    rgb = photo(40, 48)
    (folder / "a.heic").write_bytes(_encoded("heic", rgb))
    (folder / "phone.jpg").write_bytes(_encoded("heic", rgb))
    (folder / "c.jxl").write_bytes(_encoded("jxl", rgb))
    cv2.imwrite(str(folder / "d.png"), rgb)
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", NO_PLUGINS, "run", str(folder), "-o", str(out), "--cores", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    logs = json.loads((out / "stats.json").read_text())["invalid_files"]["logs"]
    assert logs == {
        str(folder / "a.heic"): "no decoder installed for HEIC: pip install fastdiff[heif]",
        str(folder / "c.jxl"): "no decoder installed for JPEG XL: pip install fastdiff[jxl]",
        str(folder / "phone.jpg"): "no decoder installed for HEIC: pip install fastdiff[heif]",
    }


def test_run_reads_the_new_formats(tmp_path: Path) -> None:
    """Where the decoders are installed, HEIC, AVIF and JPEG XL files are indexed by default and match a PNG of
    their pixels at MSE 0."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i, fmt in enumerate(("heic", "avif", "jxl")):
        path = folder / f"{i}.{fmt}"
        path.write_bytes(_encoded(fmt, photo(60, 80, seed=i)))
        cv2.imwrite(str(folder / f"{i}_copy.png"), decode_image(str(path)).rgb[..., ::-1])
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "fastdiff.cli", "run", str(folder), "-o", str(out), "--cores", "1"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    pairs = {frozenset((Path(h).name, Path(c).name)) for h, copies in results.items() for c, m in copies if m == 0}
    assert pairs == {frozenset((f"{i}.{fmt}", f"{i}_copy.png")) for i, fmt in enumerate(("heic", "avif", "jxl"))}


def _jpeg_as(marker: int, bits: int) -> bytes:
    """A valid 8-bit baseline JPEG whose frame header is changed to another process and precision: no decoder
    here reads it, as none reads a real 12-bit or lossless one."""
    buf = io.BytesIO()
    Image.fromarray(photo(16, 24)).save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 1], data[sof + 4] = marker, bits
    return bytes(data)


@pytest.mark.parametrize(
    ("marker", "bits", "reason"),
    [
        (0xC1, 12, "unsupported (12-bit JPEG)"),
        (0xC2, 12, "unsupported (12-bit JPEG)"),
        (0xC3, 16, "unsupported (16-bit lossless JPEG)"),
        (0xC3, 8, "unsupported (8-bit lossless JPEG)"),
        (0xC5, 8, "unsupported (hierarchical JPEG)"),
    ],
)
def test_jpeg_precision_or_process_without_decoder_is_unsupported_not_corrupt(
    tmp_path: Path, marker: int, bits: int, reason: str
) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(_jpeg_as(marker, bits))
    with pytest.raises(DecodeError) as err:
        decode_image(str(path))
    assert str(err.value) == reason


def test_jpeg_frame_and_reasons() -> None:
    ordinary = _jpeg_as(0xC0, 8)
    assert jpeg_frame(ordinary) == (0xC0, 8) and unsupported_jpeg(ordinary) is None
    assert jpeg_frame(_jpeg_as(0xC2, 8)) == (0xC2, 8) and unsupported_jpeg(_jpeg_as(0xC2, 8)) is None
    assert unsupported_jpeg(_jpeg_as(0xC9, 8)) == "unsupported (arithmetic-coded JPEG)"
    assert jpeg_frame(b"\xff\xd8\xff\xda\x00\x02") is None and jpeg_frame(b"\xff\xd8") is None


def test_damaged_8bit_jpeg_is_still_corrupt(tmp_path: Path) -> None:
    """An ordinary JPEG with a broken frame header stays 'corrupt image data'."""
    data = bytearray(_jpeg_as(0xC0, 8))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = b"\x00\x00\x00\x00"  # zero height and width
    path = tmp_path / "x.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(DecodeError, match="corrupt image data"):
        decode_image(str(path))
