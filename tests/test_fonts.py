"""Korean text in matplotlib figures: use_hangul_font picks a font that has Hangul, so the
Korean notebook's plots never fall back to empty boxes when such a font is installed."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tinygrad_mlp.fonts import find_hangul_font, use_hangul_font

KOREAN = "에폭별 테스트 정확도"


def missing_glyph_warnings() -> list[str]:
    """Render a figure with Korean title, labels, legend and negative ticks under the current
    rcParams; return matplotlib's "Glyph ... missing from font" warnings."""
    fig = Figure(figsize=(3, 2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([-2, -1, 0], [-1e-3, 0.5, 1.0], label="원래 방법")
    ax.set(title=KOREAN, xlabel="에폭", ylabel="기울기 노름")
    ax.legend()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


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
        assert mpl.rcParams["font.family"] == [family]
        assert mpl.rcParams["axes.unicode_minus"] is False
        assert missing_glyph_warnings() == [], f"{family} was chosen but glyphs are missing"


def test_no_hangul_font_leaves_the_settings_alone():
    with mpl.rc_context({"font.family": "DejaVu Sans", "axes.unicode_minus": True}):
        assert use_hangul_font(("No Such Font KR",)) is None
        assert find_hangul_font(("DejaVu Sans",)) is None  # installed, but without Hangul
        assert mpl.rcParams["font.family"] == ["DejaVu Sans"]
        assert mpl.rcParams["axes.unicode_minus"] is True


def test_nanum_is_found_when_fonts_nanum_is_installed():
    # where .ci/run installs it; a stale matplotlib font cache would hide it from the notebook
    installed = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf").exists()
    assert (find_hangul_font(("NanumGothic",)) == "NanumGothic") == installed
