"""The step viewer (``graph --steps DIR``'s index.html) in a real browser: headless
Chromium, driven by Playwright, pointed at the system's Chromium (Debian's ``chromium``
package, which .ci/run installs; Playwright's own browser downloads are not used).

On failure a screenshot is saved in the test's tmp_path (its path is in the message)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinygrad_mlp import Tensor, nn
from tinygrad_mlp.autograd import toposort
from tinygrad_mlp.viz import render_backward_steps

CHROMIUM = next(
    (p for p in (os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                 shutil.which("google-chrome")) if p),
    None,
)  # fmt: skip
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (.ci/run installs Debian's chromium)"),
    pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def steps_page(folder: Path, sizes=(784, 4, 10)) -> tuple[str, list[str]]:
    """A small MLP step's viewer; returns its URL and, per step, the first label line of
    the node backward processes."""
    model = nn.MLP(sizes, rng=np.random.default_rng(0))
    x = Tensor(np.random.default_rng(1).random((3, 784), dtype=np.float32), name="x")
    loss = nn.sse_loss(model(x), nn.one_hot(np.arange(3), 10))
    names = {id(t): n for n, t in model.named_parameters()}
    order = [names.get(id(t)) or t.op for t in reversed(toposort(loss))]
    page = render_backward_steps(loss, str(folder), params=dict(model.named_parameters()))
    return Path(page).as_uri(), order


def test_the_step_viewer_in_chromium(browser, tmp_path):
    url, order = steps_page(tmp_path / "steps")
    n = len(order)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def state() -> tuple[str, str, str]:
        """(counter text, URL hash, first line of the outlined node)."""
        current = page.locator("g.node.current")
        assert current.count() == 1
        return (
            page.inner_text("#count"),
            page.evaluate("location.hash"),
            current.locator("text").first.text_content(),
        )

    def at(k: int) -> tuple[str, str, str]:
        return (f"step {k} / {n}", f"#{k}", order[k - 1])

    try:
        page.goto(url)
        assert state() == at(1)
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert state() == at(3)
        page.click("#next")
        assert state() == at(4)
        page.click("#prev")
        assert state() == at(3)
        page.keyboard.press("ArrowLeft")
        assert state() == at(2)
        page.keyboard.press("End")
        assert state() == at(n)
        page.keyboard.press("ArrowRight")  # past the end: stays
        assert state() == at(n)
        page.click("#first")
        assert state() == at(1)
        page.go_back()  # the address follows the step, so the browser's back button works
        assert state() == at(n)
        page.go_forward()
        assert state() == at(1)
        page.click("#last")
        assert state() == at(n)

        page.goto(url.split("#")[0] + "#4")  # a link to one step
        page.reload()
        assert state() == at(4)
        # finished nodes keep their kind's colour, with a green border and a check mark; their
        # gradients shown, the others' hidden
        done = page.eval_on_selector_all(
            "g.node.done > :is(polygon, path)",
            "els => els.map(e => [getComputedStyle(e).stroke, getComputedStyle(e).fill])",
        )
        assert len(done) == 3 and {stroke for stroke, _ in done} == {"rgb(46, 125, 50)"}
        assert sorted(fill for _, fill in done) == ["none", "none", "rgb(202, 255, 112)"]  # ops, the loss
        checks = page.eval_on_selector_all(
            "g.node .check", "els => els.filter(e => getComputedStyle(e).display !== 'none').length"
        )
        assert checks == 3
        stroke = page.eval_on_selector(
            "g.node.current > :is(polygon, path)", "e => getComputedStyle(e).stroke"
        )
        assert stroke == "rgb(214, 39, 40)"
        grads = page.eval_on_selector_all(
            "g.node text.grad", "els => els.map(e => getComputedStyle(e).visibility)"
        )
        assert grads.count("visible") == 4
        assert "backward" in page.inner_text("#caption")

        # labels readable at a 1280 px wide window
        heights = page.eval_on_selector_all(
            "g.node > text", "els => els.map(e => e.getBoundingClientRect().height)"
        )
        assert len(heights) > 20 and min(heights) >= 9, heights
        # no internal ids in tooltips
        titles = page.eval_on_selector_all("svg title", "els => els.map(e => e.textContent)")
        assert titles and not [t for t in titles if re.search(r"\bn\d+\b", t)]

        # zoom and pan
        def box() -> dict:
            return page.locator("g.node.current").bounding_box()

        before = box()
        start = page.evaluate("scale")  # the whole picture when it fits at 70% or more, else 1:1
        assert 0.7 <= start <= 1
        page.click("#zoomin")
        zoomed = box()
        assert zoomed["height"] == pytest.approx(before["height"] * 1.25, rel=0.02)
        view = page.locator("#view").bounding_box()
        page.mouse.move(view["x"] + 50, view["y"] + 50)
        page.mouse.down()
        page.mouse.move(view["x"] + 130, view["y"] + 20, steps=4)
        page.mouse.up()
        moved = box()
        assert (moved["x"] - zoomed["x"], moved["y"] - zoomed["y"]) == pytest.approx((80, -30), abs=1)
        page.click("#actual")
        assert box()["height"] == pytest.approx(before["height"] / start, rel=0.02)
        assert errors == []
    except BaseException:
        shot = tmp_path / "viewer-failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failing page: {shot}")
        raise
    finally:
        page.close()


# ---------------------------------------------------------------- holding still


def scalar_page(folder: Path) -> str:
    """The micrograd-style expression of examples/draw_graphs.py: a graph that fits a window."""
    a, b, c, d = (
        Tensor(v, requires_grad=True, name=n) for v, n in ((2.0, "a"), (-3.0, "b"), (10.0, "c"), (-2.0, "d"))
    )
    e = a * b
    f = e + c
    g = (f * 0.25).tanh()
    L = g * d
    for t, name in ((e, "e"), (f, "f"), (g, "g"), (L, "L")):
        t.name = name
    page = render_backward_steps(L, str(folder), params={t.name: t for t in (a, b, c, d)}, show_data=True)
    return Path(page).as_uri()


VIEWPORTS = [(360, 740), (390, 844), (1280, 800)]  # the narrowest phone we serve, a phone, a laptop


def boxes(page) -> dict[str, tuple[float, float, float, float]]:
    """node id -> (left, top, right, bottom) on the screen."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('g.node')].map(g => {
        const r = g.querySelector('polygon, path').getBoundingClientRect();
        return [g.id, [r.left, r.top, r.right, r.bottom]]; }))""")


def inside(box, view) -> bool:
    return (
        box[0] >= view["x"] - 0.5
        and box[2] <= view["x"] + view["width"] + 0.5
        and box[1] >= view["y"] - 0.5
        and box[3] <= view["y"] + view["height"] + 0.5
    )


def walk(page, keys: list[str]) -> list[tuple[bool, float]]:
    """Press each key; check that the picture holds still when the next step's node was
    wholly in view, that the node is wholly in view after the step, and that the header
    keeps its height. Returns, per key, (whether the node was in view before, how far the
    picture moved)."""
    view = page.locator("#view").bounding_box()
    out = []
    for key in keys:
        before = boxes(page)
        k = page.evaluate("i")
        nxt = {"ArrowRight": k + 1, "ArrowLeft": k - 1, "End": 10**6, "Home": 0}[key]
        target = page.evaluate(f"STEPS[Math.max(0, Math.min(STEPS.length - 1, {nxt}))].node")
        was_in_view = inside(before[target], view)
        page.keyboard.press(key)
        after = boxes(page)
        moved = max(abs(a - b) for n in before for a, b in zip(before[n], after[n]))
        assert page.locator("#view").bounding_box() == view  # the caption never moves the picture
        assert inside(after[target], view), (key, k, target)  # the step's node is in view
        if was_in_view:
            assert moved < 0.5, (key, k, target, moved)  # it was in view: nothing moved
        elif after[target][3] - after[target][1] + 2 * 12 < view["height"]:  # it was not: the least pan
            gap = min(after[target][1] - view["y"], view["y"] + view["height"] - after[target][3])
            assert gap < 13, (key, k, target, gap)  # the node comes in just past the edge, not to the centre
        out.append((was_in_view, moved))
    return out


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("viewer")
    return {
        "scalar": scalar_page(folder / "scalar"),
        "deep": steps_page(folder / "deep", (784, 8, 8, 8, 10))[0],  # taller than either window
    }


@pytest.mark.parametrize("width, height", VIEWPORTS)
def test_the_viewer_holds_still_while_the_node_is_in_view(browser, pages, tmp_path, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        for name, url in pages.items():
            page.goto(url)
            n = page.evaluate("STEPS.length")
            header = page.locator("header").bounding_box()["height"]
            assert header < 0.25 * height, header  # a phone keeps most of its screen for the picture
            overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 0  # nothing sticks out sideways
            moves = walk(page, ["ArrowRight"] * (n - 1) + ["ArrowLeft"] * (n - 1) + ["End", "Home"])
            if name == "scalar":
                # the whole expression fits both windows: the picture never moves (the jump at
                # 1280x800 panned 278 px down to the last step's node and cut three nodes off)
                assert all(was_in_view for was_in_view, _ in moves)
                assert max(moved for _, moved in moves) < 0.5
            else:  # taller than the window: it pans, but only to bring a node into view
                assert any(moved > 0.5 for _, moved in moves) and any(w for w, _ in moves)
    except BaseException:
        shot = tmp_path / f"viewer-{width}x{height}.png"
        page.screenshot(path=str(shot))
        print(f"screenshot of the failing page: {shot}")
        raise
    finally:
        page.close()


def test_a_long_caption_scrolls_in_its_own_area(browser, pages):
    url = pages["scalar"]
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.goto(url)
        view = page.locator("#view").bounding_box()
        heights = set()
        for _ in range(8):
            heights.add(page.locator("#caption").bounding_box()["height"])
            page.keyboard.press("ArrowRight")
        assert len(heights) == 1 and page.locator("#view").bounding_box() == view
    finally:
        page.close()
