"""Korean text in matplotlib figures: use_hangul_font picks a font that has Hangul, so the
Korean notebook's plots never fall back to empty boxes when such a font is installed."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import matplotlib as mpl
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tinygrad_mlp.fonts import find_hangul_font, use_hangul_font

KOREAN = "에폭별 테스트 정확도"


def missing_glyph_warnings() -> list[str]:
    """Render a figure with Korean title, labels and legend, negative ticks and a log axis
    (10^-3: mathtext) under the current rcParams; return what matplotlib said about missing
    glyphs (a warning "Glyph ... missing from font(s)", or a log record "Font ... does not
    have a glyph", both drawn as boxes)."""
    fig = Figure(figsize=(6, 2))
    FigureCanvasAgg(fig)
    ax, log_ax = fig.subplots(1, 2)
    ax.plot([-2, -1, 0], [-1.0, 0.5, 1.0], label="원래 방법")
    ax.set(title=KOREAN, xlabel="에폭", ylabel="기울기 노름")
    ax.legend()
    log_ax.semilogy([1, 2], [1e-3, 1.0])
    log_ax.set_title("층별 기울기 노름")
    said = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    logger = logging.getLogger("matplotlib")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig.savefig(io.BytesIO(), format="png")
    finally:
        logger.removeHandler(handler)
    said += [str(w.message) for w in caught]
    return [m for m in said if "missing from font" in m or "does not have a glyph" in m]


def test_the_check_sees_a_font_without_hangul():
    # the check below is live: matplotlib's default font has no Hangul, and it says so
    with mpl.rc_context({"font.family": "DejaVu Sans"}):
        missing = missing_glyph_warnings()
    assert missing and "DejaVu Sans" in missing[0]


def test_korean_plots_render_every_glyph_when_a_hangul_font_is_installed():
    with mpl.rc_context():
        family = use_hangul_font()
        if family is None:  # no Hangul font here (CI installs fonts-nanum): defaults stay
            assert mpl.rcParams["font.family"] == mpl.rcParamsDefault["font.family"]
            return
        assert mpl.rcParams["font.family"] == [*mpl.rcParamsDefault["font.family"], family]
        assert missing_glyph_warnings() == [], f"{family} was chosen but glyphs are missing"


def test_the_hangul_font_first_would_lose_the_log_axis_minus():
    # why use_hangul_font appends: first in the list, the Korean font draws mathtext's minus
    family = find_hangul_font()
    if family is None:
        pytest.skip("no Hangul font installed (CI installs fonts-nanum)")
    with mpl.rc_context({"font.family": [family, "DejaVu Sans"]}):
        assert any("does not have a glyph" in m for m in missing_glyph_warnings())


def test_no_hangul_font_leaves_the_settings_alone():
    with mpl.rc_context({"font.family": "DejaVu Sans"}):
        assert use_hangul_font(("No Such Font KR",)) is None
        assert find_hangul_font(("DejaVu Sans",)) is None  # installed, but without Hangul
        assert mpl.rcParams["font.family"] == ["DejaVu Sans"]


def test_nanum_is_found_when_fonts_nanum_is_installed():
    # where .ci/run installs it; a stale matplotlib font cache would hide it from the notebook
    installed = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf").exists()
    assert (find_hangul_font(("NanumGothic",)) == "NanumGothic") == installed
