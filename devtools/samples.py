"""The objects behind seeded photos and documents: small JPEG portraits (Pillow) and one-page PDFs (fpdf2).

Each is made once per process and reused by every row that points at it. fpdf2 is imported only when the PDFs
are first wanted: importing it (fontTools comes with it) takes about a second, which only a seed that uploads
objects needs to pay.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from functools import cache
from typing import Final

from PIL import Image, ImageDraw

PHOTO_CONTENT_TYPE: Final = "image/jpeg"
DOCUMENT_CONTENT_TYPE: Final = "application/pdf"
DOC_TYPES: Final = ("identity", "employment", "education", "income")

PORTRAIT_SIZE: Final = (120, 160)

_COLOURS: Final[tuple[tuple[int, int, int], ...]] = (
    (231, 76, 60),
    (230, 126, 34),
    (241, 196, 15),
    (46, 204, 113),
    (26, 188, 156),
    (52, 152, 219),
    (155, 89, 182),
    (52, 73, 94),
    (192, 57, 43),
    (211, 84, 0),
    (39, 174, 96),
    (22, 160, 133),
    (41, 128, 185),
    (142, 68, 173),
    (236, 112, 160),
    (127, 140, 141),
)

SAMPLE_PHOTOS: Final = len(_COLOURS)
"""How many sample photos there are (`sample_jpegs()`)."""

# Fixed, so that the same document is the same bytes on every run (fpdf2 would write the current time).
_PDF_DATE: Final = datetime(2026, 1, 1, tzinfo=UTC)


def _portrait(colour: tuple[int, int, int]) -> bytes:
    """A head-and-shoulders silhouette on a background shading from `colour` (top) towards white (bottom)."""
    width, height = PORTRAIT_SIZE
    image = Image.new("RGB", PORTRAIT_SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        mix = 0.6 * y / (height - 1)
        r, g, b = (round(channel + (255 - channel) * mix) for channel in colour)
        draw.line([(0, y), (width, y)], fill=(r, g, b))
    r, g, b = (round(channel * 0.55) for channel in colour)
    draw.ellipse((width * 0.3, height * 0.17, width * 0.7, height * 0.52), fill=(r, g, b))
    draw.ellipse((width * 0.08, height * 0.58, width * 0.92, height * 1.3), fill=(r, g, b))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def _document(doc_type: str) -> bytes:
    """An A4 page titled after `doc_type`, saying it is demo data."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(_PDF_DATE)
    pdf.set_title(f"Sample {doc_type} document")
    pdf.set_creator("memberdesk seed")
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=20)
    pdf.cell(text=f"Sample {doc_type} document", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, text="Demo data made by `memberdesk seed`: not a real document of a real person.")
    return bytes(pdf.output())


@cache
def sample_jpegs() -> tuple[bytes, ...]:
    """One small JPEG portrait per colour; seeded photo objects use these bytes."""
    return tuple(_portrait(colour) for colour in _COLOURS)


@cache
def sample_pdfs() -> dict[str, bytes]:
    """One one-page PDF per document type; seeded document objects use these bytes."""
    return {doc_type: _document(doc_type) for doc_type in DOC_TYPES}
