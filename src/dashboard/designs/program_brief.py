"""The one-page standalone HTML brief of one program and what the designs found. Pure string building:
no Streamlit, no store, no links; every text from data is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from dashboard import schema
from dashboard.designs.analysis import ImpactResult
from dashboard.designs.estimates import REPORTING_WARNING
from dashboard.designs.event_study import EventStudy
from dashboard.designs.selection import MODES


def program_brief_html(program: Mapping[str, object], footprint: Mapping[str, object],
                       result: ImpactResult | None, caveats: Sequence[str], generated: str) -> str:
    """A one-page standalone HTML brief of one program: what it is, where and how much it ran, what each
    design found with its interval, and the caveats. Every data-derived text is escaped; no external
    asset (styles inline), so it opens offline and can be printed or mailed as is."""
    e = html.escape

    def dl(items: Mapping[str, object]) -> str:
        return "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in items.items())

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(str(program.get('program', 'Program')))} – evidence brief</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;color:#1b1f23;"
        "line-height:1.45}h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.1em;margin-top:1.4em;"
        "border-bottom:1px solid #ccd;padding-bottom:.2em}table{border-collapse:collapse;width:100%;"
        "font-size:.92em}th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #e5e8eb;"
        "vertical-align:top}th{width:32%;color:#444}.warn{background:#fff4e5;padding:.6em .8em;"
        "border-left:4px solid #e69f00}.muted{color:#666;font-size:.85em}"
        "@page{size:A4;margin:12mm}@media print{body{margin:0;max-width:none;font-size:9.5pt;line-height:1.3}"
        "h1{margin-top:0}h2{margin-top:.9em}th,td{padding:.15em .4em}}</style></head><body>",
        f"<h1>{e(str(program.get('program', '')))}</h1>",
        f"<p>{e(str(program.get('description', '')))}</p>",
        "<h2>Where and how much it ran</h2><table>", dl(footprint), "</table>",
        "<h2>What the designs found</h2>",
    ]
    if result is None:
        parts.append("<p>No analysis has been run for this program with the loaded data.</p>")
    else:
        st = result.settings
        level = schema.LEVELS[st.level].label if st.level in schema.LEVELS else st.level
        parts.append(f"<p class='muted'>{e(MODES.get(st.mode, st.mode))}. "
                     f"{e(result.describe(level, str(program.get('label', ''))))}</p><table>")
        for _, row in result.summary().iterrows():
            parts.append(f"<tr><th>{e(str(row['label']))}</th><td>{e(str(row['verdict']))}</td></tr>")
        parts.append("</table>")
        if isinstance(result.event_study, EventStudy) and result.event_study.pretrend_p is not None:
            parts.append(f"<p>{e(result.pretrend_text())}</p>")
    parts.append("<h2>Caveats</h2><ul>")
    parts += [f"<li>{e(c)}</li>" for c in caveats]
    parts.append(f"</ul><p class='warn'>{e(REPORTING_WARNING.replace('*', ''))}</p>")
    parts.append(f"<p class='muted'>{e(generated)}</p></body></html>")
    return "".join(parts)
