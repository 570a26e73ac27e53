"""Image formats read only where a decoder is installed: HEIC/HEIF (pillow-heif), AVIF (Pillow >= 11.3 or OpenCV
built with libavif) and JPEG XL (pillow-jxl-plugin, or OpenCV built with libjxl).

Their extensions are among the default allowed extensions (`OPTIONAL_EXTENSIONS`), whether a decoder is installed or
not; without
one, a file of such a format is reported as "no decoder installed for HEIC: pip install fastdiff[heif]"
(`missing_decoder`, `sniff`), never as an unsupported type or corrupt data. `register_decoders` makes the installed
Pillow plugins known to Pillow; `fastdiff.thumbnails.decode` calls it on import.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from functools import cache

import cv2
from PIL import features


@dataclass(frozen=True)
class OptionalFormat:
    """A format with an optional decoder.

    Attributes
    ----------
    name : str
        As messages name it.
    extensions : tuple of str
        Lower case, without the dot.
    extra : str
        The fastdiff extra that installs a decoder (`pip install fastdiff[extra]`).
    plugin : str or None
        The module that, imported (and registered, `register_decoders`), adds a Pillow plugin.
    pillow_feature : str or None
        Pillow's own decoder (`PIL.features.check`).
    opencv : str or None
        The label of OpenCV's decoder in `cv2.getBuildInformation()`.
    """

    name: str
    extensions: tuple[str, ...]
    extra: str
    plugin: str | None = None
    pillow_feature: str | None = None
    opencv: str | None = None


OPTIONAL_FORMATS = (
    OptionalFormat("HEIC", ("heic", "heif", "hif"), "heif", plugin="pillow_heif"),
    OptionalFormat("AVIF", ("avif",), "avif", pillow_feature="avif", opencv="AVIF"),
    OptionalFormat("JPEG XL", ("jxl",), "jxl", plugin="pillow_jxl", opencv="JPEG XL"),
)
# ISO base media (HEIF) brands, from the ftyp box: AVIF's first (an AVIF may also list mif1).
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
_JXL_SIGNATURES = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")


@cache
def _opencv_decoders() -> frozenset[str]:
    """The labels of the image decoders OpenCV was built with ('AVIF', 'JPEG XL', ...)."""
    labels = re.findall(r"^\s+([A-Za-z0-9 ]+):\s+(.*)$", cv2.getBuildInformation(), re.MULTILINE)
    return frozenset(label.strip() for label, value in labels if value.strip() and not value.startswith("NO"))


@cache
def _plugin_loaded(module_name: str) -> bool:
    """Import a Pillow plugin's module and register its opener (pillow-heif: `register_heif_opener`; pillow-jxl-plugin
    registers itself on import); False where it is not installed or fails to import."""
    if importlib.util.find_spec(module_name) is None:
        return False
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    register = getattr(module, "register_heif_opener", None)
    if register is not None:
        register()
    return True


@cache
def decoder_installed(fmt: OptionalFormat) -> bool:
    """Whether some installed decoder reads fmt: its Pillow plugin (imported and registered here), Pillow's own
    decoder or OpenCV's."""
    if fmt.plugin is not None and _plugin_loaded(fmt.plugin):
        return True
    if fmt.pillow_feature is not None and features.check(fmt.pillow_feature):
        return True
    return fmt.opencv is not None and fmt.opencv in _opencv_decoders()


OPTIONAL_EXTENSIONS = tuple(e for fmt in OPTIONAL_FORMATS for e in fmt.extensions)  # in the default extensions


def _no_decoder(fmt: OptionalFormat) -> str:
    return f"no decoder installed for {fmt.name}: pip install fastdiff[{fmt.extra}]"


def missing_decoder(extension: str | None) -> str | None:
    """The message for a file of an optional format without an installed decoder, by its extension; else None.

    Parameters
    ----------
    extension : str or None
        Lower case, without the dot.

    Returns
    -------
    str or None
        E.g. "no decoder installed for HEIC: pip install fastdiff[heif]".
    """
    for fmt in OPTIONAL_FORMATS:
        if extension in fmt.extensions and not decoder_installed(fmt):
            return _no_decoder(fmt)
    return None


def sniff(data: bytes) -> OptionalFormat | None:
    """The optional format of a file's first bytes (HEIF ftyp brands, the JPEG XL signatures), or None."""
    if data.startswith(_JXL_SIGNATURES):
        return OPTIONAL_FORMATS[2]
    if data[4:8] == b"ftyp":
        size = int.from_bytes(data[:4], "big")
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, min(size, len(data), 64) - 3, 4)}
        if brands & _AVIF_BRANDS:
            return OPTIONAL_FORMATS[1]
        if brands & _HEIF_BRANDS:
            return OPTIONAL_FORMATS[0]
    return None


def undecodable(data: bytes) -> str | None:
    """For a file no decoder read: "no decoder installed for ..." where it is of an optional format whose decoder
    is missing; else None."""
    fmt = sniff(data)
    return _no_decoder(fmt) if fmt is not None and not decoder_installed(fmt) else None


def register_decoders() -> None:
    """Register the installed Pillow plugins of OPTIONAL_FORMATS, so that Pillow opens those formats; one that fails
    to import is left out (its files then get the "no decoder installed" message)."""
    for fmt in OPTIONAL_FORMATS:
        if fmt.plugin is not None:
            _plugin_loaded(fmt.plugin)


# JPEG start-of-frame markers (ITU T.81 B.1.1.3): all of 0xC0-0xCF but DHT, JPG and DAC.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_LOSSLESS_SOF = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
_HIERARCHICAL_SOF = frozenset({0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF})
_ARITHMETIC_SOF = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def jpeg_frame(data: bytes) -> tuple[int, int] | None:
    """(SOF marker, sample precision in bits) of a JPEG's first frame header, or None where none is found."""
    pos = 2
    while pos + 4 < len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _SOF_MARKERS:
            return marker, data[pos + 4]
        if marker == 0xDA:  # scan data before any frame header
            return None
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None


def unsupported_jpeg(data: bytes) -> str | None:
    """For a JPEG that no installed decoder read: "unsupported (12-bit JPEG)" and the like where its frame header
    names a precision or process that 8-bit baseline/progressive decoders lack; None for an ordinary JPEG (whose
    failure is damage)."""
    frame = jpeg_frame(data)
    if frame is None:
        return None
    marker, bits = frame
    if marker in _LOSSLESS_SOF:
        return f"unsupported ({bits}-bit lossless JPEG)"
    if marker in _HIERARCHICAL_SOF:
        return "unsupported (hierarchical JPEG)"
    if bits != 8:
        return f"unsupported ({bits}-bit JPEG)"
    if marker in _ARITHMETIC_SOF:
        return "unsupported (arithmetic-coded JPEG)"
    return None
