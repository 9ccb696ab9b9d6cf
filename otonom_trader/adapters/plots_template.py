"""The page template for ``dvc plots show`` / ``dvc plots diff`` that renders offline.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so without network the
plots are blank. This template inlines them instead, from the ``vl-convert-python`` package
(``vl_convert.javascript_bundle()``: vega-embed with vega and vega-lite, no external
requests). DVC fills ``{plot_divs}``; the template has no ``{scripts}`` placeholder, so
DVC's CDN ``<script>`` tags are left out. ``.dvc/config`` points ``plots.html_template`` at
the file the pipeline's ``plots_template`` stage writes.
"""

from __future__ import annotations

from importlib.metadata import version

__all__ = ["offline_template"]

# DVC's plot templates are Vega-Lite v5 specifications: bundle the newest v5 vl-convert has.
_VEGA_LITE_MAJOR = "5."

_PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    <!-- vega {vega}, vega-lite {vega_lite}, vega-embed {vega_embed}, inlined from
         vl-convert-python {vl_convert} by `otonom plots template` (works offline) -->
    <script type="text/javascript">
(function () {  // the bundle's own names stay local; it sets window.vegaEmbed, vega, vegaLite
__BUNDLE__
})();
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def _vega_lite_version(vlc) -> str | None:
    versions = [v for v in vlc.get_vegalite_versions() if v.startswith(_VEGA_LITE_MAJOR)]
    return max(versions, key=lambda v: tuple(int(p) for p in v.split("."))) if versions else None


def offline_template() -> str:
    """The HTML template, with the JavaScript of the installed vl-convert-python inlined."""
    import vl_convert as vlc

    vl = _vega_lite_version(vlc)
    bundle = vlc.javascript_bundle(vl_version=vl) if vl else vlc.javascript_bundle()
    bundle = bundle.replace("</script", "<\\/script")  # cannot close the tag early
    for placeholder in ("{plot_divs}", "{scripts}", "{refresh_tag}"):
        if placeholder in bundle:  # DVC would substitute inside the JavaScript
            raise RuntimeError(f"the vega bundle contains DVC's placeholder {placeholder}")
    header = (_PAGE.replace("{vega}", vlc.get_vega_version())
              .replace("{vega_lite}", vl or "latest")
              .replace("{vega_embed}", vlc.get_vega_embed_version())
              .replace("{vl_convert}", version("vl-convert-python")))
    return header.replace("__BUNDLE__", bundle)
