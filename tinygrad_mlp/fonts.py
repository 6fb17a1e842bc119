"""A matplotlib font with Hangul, for figures with Korean text (the Korean tutorial notebook).

matplotlib's default font, DejaVu Sans, has no Hangul: Korean titles and labels come out as
empty boxes, with a warning "Glyph ... missing from font(s) DejaVu Sans".
``use_hangul_font()`` chooses an installed font that has Hangul (Debian's fonts-nanum gives
NanumGothic) and leaves matplotlib's defaults alone when there is none:

    from tinygrad_mlp.fonts import use_hangul_font
    use_hangul_font()   # "NanumGothic", or None when no Hangul font is installed

matplotlib is imported only when these functions are called; it is not a dependency of
the engine.
"""

from __future__ import annotations

# Tried in order: fonts-nanum (Debian, Ubuntu), Noto CJK, then the Windows and macOS ones.
HANGUL_FONTS = (
    "NanumGothic",
    "NanumBarunGothic",
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Malgun Gothic",
    "AppleGothic",
)


def font_has(path: str, text: str) -> bool:
    """Whether the font file at ``path`` has a glyph for every character of ``text``."""
    from matplotlib import ft2font

    charmap = ft2font.FT2Font(path).get_charmap()
    return all(ord(c) in charmap for c in text if not c.isspace())


def find_hangul_font(candidates: tuple[str, ...] = HANGUL_FONTS) -> str | None:
    """The first font family of ``candidates`` that matplotlib finds and that has Hangul, or None."""
    from matplotlib import font_manager

    for family in candidates:
        try:
            path = font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:  # not installed
            continue
        if font_has(path, "가한글힣"):
            return family
    return None


def use_hangul_font(candidates: tuple[str, ...] = HANGUL_FONTS) -> str | None:
    """Make matplotlib draw Hangul in a font that has it, when one is installed.

    Appends the font found to ``font.family``, so Latin letters, digits and the minus sign
    keep the current font (DejaVu Sans by default) and matplotlib falls back to the Hangul
    font glyph by glyph. Putting the Hangul font first would break log-axis ticks such as
    10^-2: their mathtext takes its minus sign from the first family, and Korean fonts such
    as NanumGothic have none. Returns the family added, or None, leaving every setting as it
    was, when no font of ``candidates`` is installed.
    """
    import matplotlib as mpl

    family = find_hangul_font(candidates)
    if family is not None:
        current = [f for f in mpl.rcParams["font.family"] if f != family]
        mpl.rcParams["font.family"] = [*current, family]
    return family
