"""README.ko.md keeps in step with README.md: the same sections in the same order (through the
heading table below), the same code blocks, the same figures and pictures.

Adding a section to README.md: write its Korean twin at the same place in README.ko.md and
add one line to HEADINGS ("English heading": "Korean heading"). The failures name what is
missing where.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Every heading of README.md (without the #s) -> its heading in README.ko.md, in any order.
HEADINGS = {
    "tinygrad_mlp": "tinygrad_mlp",
    "Set up": "설치",
    "A Tensor and its gradients": "Tensor와 기울기",
    "The graph backward walks": "역전파가 따라가는 그래프",
    "Automatic vs hand-written vs numerical": "자동 미분, 직접 구현, 수치 미분 비교",
    "Beyond the first derivative": "1계 도함수 너머로",
    "Training": "학습",
    "Speed": "속도",
    "Command line": "명령줄 도구",
    "Examples": "예제",
    "Architecture": "구조",
    "Check your own backward": "직접 구현한 backward 검사하기",
    "Development": "개발",
    "Contents": "차례",
    "Adding an op": "연산 추가하기",
    "numpy on Tensors": "Tensor 위의 numpy",
    "Compiling a step": "학습 단계 컴파일하기",
}

# Translationese a native reader flagged in an earlier README.ko.md, and what to write instead.
CALQUES = {
    "작고 빠르고 정직한": "say what small, fast and honest mean here",
    "중앙 차분": "중심 차분",
    "자동 미분에게": "자동 미분으로 구해 보면",
    "지금까지 알려진": "그 단계까지 계산을 마친",
    "손으로 쓴": "직접 구현한",
    "예전 난수": "레거시 난수 생성기",
    "두 줄이면": "다음 명령을 실행하세요",
    "같은 배치": "같은 배열 모양",
    "PyTorch에서\nPyTorch": "say it once: PyTorch에 익숙하다면",
    "PyTorch에서 PyTorch": "say it once: PyTorch에 익숙하다면",
    "합친 손실": "융합 손실 (fused: one op with its own backward rule, not a sum)",
    "합친 연산": "융합 손실",
    "기울기 사전": "기울기 딕셔너리 (one term for the dict of gradients)",
    "역전파가 역방향 모드인 이유": "say why networks are trained in reverse mode, not that backprop is reverse mode",
    "한 줄로 죽": "loops-free straight-line code is not a one-liner",
}

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
NUMBER = re.compile(r"(?<![\d.])\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?%?")


def read(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return FENCE.sub("", text)


def headings(text: str) -> list[tuple[str, str]]:
    """(level, title) of every markdown heading outside code blocks, in order: ("##", "Speed")."""
    return re.findall(r"^(#{1,6})\s+(.+?)\s*#*\s*$", prose(text), re.M)


def code_blocks(text: str) -> list[tuple[str, str]]:
    return FENCE.findall(text)


def pictures(text: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text)


def fmt(heading: tuple[str, str]) -> str:
    return f"{heading[0]} {heading[1]}"


def test_the_korean_readme_has_the_same_sections_in_the_same_order():
    english, korean = headings(read("README.md")), headings(read("README.ko.md"))
    unmapped = [fmt(h) for h in english if h[1] not in HEADINGS]
    assert not unmapped, (
        f"README.md has headings with no Korean twin in HEADINGS ({__file__}): {unmapped}; "
        f"add a line for each and the translated section to README.ko.md"
    )
    expected = [(level, HEADINGS[title]) for level, title in english]
    english_of = {ko: en for en, ko in HEADINGS.items()}
    missing = [f"{fmt(k)} (README.md: {k[0]} {english_of[k[1]]})" for k in expected if k not in korean]
    assert not missing, f"README.ko.md lacks sections that README.md has: {missing}"
    extra = [fmt(k) for k in korean if k not in expected]
    assert not extra, (
        f"README.ko.md has sections that README.md lacks (or that HEADINGS does not map): {extra}"
    )
    assert korean == expected, (
        "README.ko.md has the sections of README.md in another order or level:\n"
        f"  README.md order:    {[fmt(h) for h in expected]}\n"
        f"  README.ko.md order: {[fmt(h) for h in korean]}"
    )


def test_the_heading_table_maps_each_heading_once():
    assert len(set(HEADINGS.values())) == len(HEADINGS), "two English headings share a Korean one"


def test_code_commands_and_output_are_the_same_in_both():
    english, korean = code_blocks(read("README.md")), code_blocks(read("README.ko.md"))
    only_en = [block[1].splitlines()[0] for block in english if block not in korean]
    assert not only_en, f"code blocks of README.md missing from README.ko.md (first lines): {only_en}"
    assert korean == english, "README.ko.md's code blocks differ from README.md's in number or order"


def test_the_same_pictures_and_figures_in_both():
    english, korean = read("README.md"), read("README.ko.md")
    assert pictures(korean) == pictures(english)
    en_numbers = set(NUMBER.findall(prose(english)))
    ko_numbers = set(NUMBER.findall(prose(korean)))
    assert en_numbers <= ko_numbers, (
        f"figures in README.md's text missing from README.ko.md: {sorted(en_numbers - ko_numbers)}"
    )


@pytest.mark.parametrize("calque, instead", CALQUES.items())
def test_no_calques(calque, instead):
    assert calque not in read("README.ko.md"), f"README.ko.md says {calque!r}: write {instead!r}"


def test_times_is_a_times_sign_in_korean_prose():
    # "28x28", "입력 x 출력": the letter x where Korean prose means × (code spans aside)
    text = re.sub(r"`[^`\n]*`", "", prose(read("README.ko.md")))
    assert not re.findall(r"\d\s*x\s*\d|입력 x 출력", text)


def test_the_korean_readme_says_error_messages_stay_in_english():
    assert re.search(r"오류 메시지[^.]*영어로", read("README.ko.md").replace("\n", " "))


def slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


@pytest.mark.parametrize("name, contents", [("README.md", "Contents"), ("README.ko.md", "차례")])
def test_the_contents_link_every_section_and_nothing_else(name, contents):
    text = read(name)
    sections = [title for level, title in headings(text) if level == "##" and title != contents]
    start = text.index(f"## {contents}\n")
    listed = re.findall(r"\]\(#([^)]+)\)", text[start : text.index("\n## ", start + 1)])
    assert listed == [slug(t) for t in sections], (
        f"{name}'s {contents} should link each section in order:\n"
        f"  links:    {listed}\n  sections: {[slug(t) for t in sections]}"
    )
