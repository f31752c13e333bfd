"""The report as one self-contained HTML page (report.html): plots embedded as data: URIs,
so it opens in any browser with no server and survives being mailed or zipped."""

from __future__ import annotations

import base64
import html

from actsearch.reporting.document import Bullets, Figure, Preformatted, Report, Table


def render_html(report: Report) -> str:
    esc = html.escape
    parts = [f"<h1>{esc(report.title)}</h1>", *map(_block, report.intro)]
    for section in report.sections:
        parts.append(f"<h2>{esc(section.title)}</h2>")
        parts += [_block(block) for block in section.blocks]
    return HTML_PAGE.format(title=esc(report.title), body="\n".join(parts))


def _block(block) -> str:
    esc = html.escape
    if isinstance(block, Table):
        table = html_table(block)
        return f'<div class="wide">{table}</div>' if block.wide else table
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{esc(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Figure):
        data = base64.b64encode(block.path.read_bytes()).decode("ascii")
        wide = ' class="full"' if block.wide else ""
        return (f'<figure{wide}><img alt="{esc(block.path.stem)}" '
                f'src="data:image/png;base64,{data}">'
                f"<figcaption>{esc(block.path.name)}</figcaption></figure>")
    if isinstance(block, Preformatted):
        return f"<pre>{esc(block.text)}</pre>"
    return f"<p>{esc(block)}</p>"


def html_table(table: Table) -> str:
    """Numbers right-aligned, text (an expression, a name) left-aligned."""
    def cells(row: list[str], tag: str) -> str:
        return "".join(f"<{tag}{'' if tag == 'th' or _numeric(c) else ' class=t'}>"
                       f"{html.escape(c)}</{tag}>" for c in row)

    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in table.rows)
    return (f"<table><thead><tr>{cells(table.header, 'th')}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _numeric(cell: str) -> bool:
    try:
        float(cell.replace(",", "").split(" ")[0].rstrip("%"))
    except ValueError:
        return cell in ("-", "")
    return True


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - actsearch report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th {{ background: #f0f0f0; }} td.t {{ text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 520px; }}
figure.full {{ display: block; }} figure.full img {{ max-width: 100%; }}
figcaption {{ font-size: 0.8em; color: #666; text-align: center; }}
.wide {{ overflow-x: auto; }}
pre {{ background: #f7f7f7; padding: 1em; overflow: auto; }}
</style></head>
<body>
{body}
<script>
// Marks how many embedded plots decoded, so a headless browser test can check them.
window.addEventListener("load", () => {{
  const imgs = [...document.images];
  document.body.dataset.imagesLoaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesTotal = imgs.length;
}});
</script>
</body></html>
"""
