"""Charts drawn on the server as inline SVG: no script, no CDN, nothing the console's
Content-Security-Policy would block (``bars`` uses presentation attributes, never a
``style`` element or attribute), vector output that prints sharply.

``bars`` is the pure renderer (numbers and strings in, SVG out); ``dpo`` turns the DPO's
trends (bastion.controls.trends) into charts with their titles in the viewer's language.
"""

from .bars import PALETTE, BarChart, Bars, nice_ticks, render

__all__ = ["PALETTE", "BarChart", "Bars", "nice_ticks", "render"]
