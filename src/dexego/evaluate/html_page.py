"""Self-contained HTML pages: inline CSS, images embedded as base64, no external resources."""

from __future__ import annotations

import base64
import html
import io

from dexego.utils.files import write_bytes_atomic, write_text_atomic  # noqa: F401 (re-exported: pages, PNGs and reports use them)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { margin-top: 2em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 14px; display: block; max-width: 100%;
        overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; overflow-wrap: break-word; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1em 0; }
figure img, figure video { max-width: 100%; border: 1px solid #eee; }
details { margin: .5em 0 1em; }
summary { cursor: pointer; color: #345; }
.meta { color: #555; font-size: 13px; }
.videos { display: flex; flex-wrap: wrap; gap: 1em; }
.videos figure { margin: 0; }
.success { color: #080; font-weight: bold; }
.failure { color: #b00; font-weight: bold; }
figcaption, .note { color: #666; font-size: 13px; }
.broken { color: #b00; font-weight: bold; }
"""

# Marks the page with how many images decoded, and flags broken ones visibly (a self-check, no network).
_IMAGE_CHECK = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
    else { var p = document.createElement("p"); p.className = "broken";
           p.textContent = "image failed to load: " + imgs[i].alt; imgs[i].after(p); }
  }
  document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
  document.body.setAttribute("data-scroll-width", String(document.documentElement.scrollWidth));
});
"""


def page(title: str, body: str) -> str:
    """A complete HTML document around ``body`` (already-escaped HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n"
        f"<script>{_IMAGE_CHECK}</script>\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def png_img(png: bytes, alt: str, caption: str = "", min_width: int = 0) -> str:
    """A <figure> with the PNG embedded as a data URI; images narrower than ``min_width`` are shown enlarged."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError(f"image {alt!r} is not PNG data")
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    width = int.from_bytes(png[16:20], "big")  # IHDR width
    style = f' style="width:{min_width}px;image-rendering:pixelated"' if 0 < width < min_width else ""
    return f'<figure><img alt="{html.escape(alt)}"{style} src="data:image/png;base64,{data}">{cap}</figure>'


def figure_png(fig, dpi: int = 100) -> bytes:
    """Render a matplotlib figure (a ``matplotlib.figure.Figure``, no pyplot state) to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()
