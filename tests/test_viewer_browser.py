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


def steps_page(folder: Path) -> tuple[str, list[str]]:
    """A small MLP step's viewer; returns its URL and, per step, the first label line of
    the node backward processes."""
    model = nn.MLP((784, 4, 10), rng=np.random.default_rng(0))
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
        # finished nodes shaded, their gradients shown; the others' gradients hidden
        done = page.eval_on_selector_all(
            "g.node.done > :is(polygon, path)", "els => els.map(e => getComputedStyle(e).fill)"
        )
        assert len(done) == 3 and set(done) == {"rgb(255, 217, 102)"}
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
            "g.node text", "els => els.map(e => e.getBoundingClientRect().height)"
        )
        assert len(heights) > 20 and min(heights) >= 9, heights
        # no internal ids in tooltips
        titles = page.eval_on_selector_all("svg title", "els => els.map(e => e.textContent)")
        assert titles and not [t for t in titles if re.search(r"\bn\d+\b", t)]

        # zoom and pan
        def box() -> dict:
            return page.locator("g.node.current").bounding_box()

        before = box()
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
        assert box()["height"] == pytest.approx(before["height"], rel=0.02)
        assert errors == []
    except BaseException:
        shot = tmp_path / "viewer-failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failing page: {shot}")
        raise
    finally:
        page.close()
