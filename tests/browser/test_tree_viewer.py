"""The tree viewer (`astro tree show`) opened in headless Chromium: the tree renders and a node's
step text shows on click, checked from the DOM and a screenshot (marker `browser`)."""

from __future__ import annotations

import json
import shutil

import pytest

from astro.cli import main as astro
from astro_env.jsonl import read_jsonl
from search.tree import SearchTree

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="chromium is not installed (apt-get install chromium chromium-driver)"),
]


@pytest.fixture()
def page(tmp_path):
    """(tree, file:// URL of its page): an MCTS tree of a Countdown problem (symbolic policy) with a correct terminal."""
    trees = tmp_path / "trees.jsonl"
    assert astro(["search", "--problems", "countdown:4", "--policy.backend", "countdown", "--out", str(trees), "--no-progress",
                  "--search.agent-config.n-iterations", "6"]) == 0
    records = [SearchTree.from_dict(r) for r in read_jsonl(trees)]
    index = next(i for i, t in enumerate(records) if t.correct_terminals())
    html = tmp_path / "tree.html"
    assert astro(["tree", "show", str(trees), "--index", str(index), "--out", str(html)]) == 0
    return records[index], html.as_uri()


@pytest.fixture()
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_tree_renders_and_a_node_shows_its_step_on_click(page, browser, tmp_path):
    from selenium.webdriver.common.by import By

    tree, url = page
    browser.get(url)
    nodes = browser.find_elements(By.CSS_SELECTOR, "svg g.node")
    assert len(nodes) == len(tree) and len(browser.find_elements(By.CSS_SELECTOR, "svg line.edge")) == len(tree) - 1
    svg = browser.find_element(By.TAG_NAME, "svg")
    assert svg.size["width"] > 100 and svg.size["height"] > 100  # laid out, not collapsed
    circle = browser.find_element(By.CSS_SELECTOR, "#node-1 circle")
    assert circle.is_displayed() and circle.size["width"] > 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "g.node.correct")) == len(tree.correct_terminals()) >= 1

    panel = browser.find_element(By.ID, "step-1")
    assert not panel.is_displayed()  # hidden until the node is clicked
    circle.click()  # what a reader does: click the node
    assert browser.current_url.endswith("#step-1")
    assert panel.is_displayed()
    assert tree.nodes[1].step in panel.text and f"N={tree.nodes[1].visits}" in panel.text
    assert not browser.find_element(By.ID, "step-2").is_displayed()  # only the clicked node's panel

    shot = tmp_path / "tree.png"  # taken with the panel open
    assert browser.save_screenshot(str(shot))
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert sum(n for n, rgb in colours if rgb != (255, 255, 255)) > 0.01 * image.width * image.height  # not blank
    assert any(rgb == (0x2E, 0x9D, 0x44) for _, rgb in colours)  # a correct terminal's green is drawn

    browser.find_element(By.CSS_SELECTOR, "#step-1 a.close").click()
    assert not panel.is_displayed()


def test_terminal_solutions_unfold_on_click(page, browser):
    from selenium.webdriver.common.by import By

    tree, url = page
    browser.get(url)
    (first, *_) = browser.find_elements(By.CSS_SELECTOR, "details")
    solution = first.find_element(By.TAG_NAME, "pre")
    assert not solution.is_displayed()
    first.find_element(By.TAG_NAME, "summary").click()
    assert solution.is_displayed()
    best = sorted(tree.terminals(), key=lambda n: (not n.correct, -n.visits, n.id))[0]
    assert solution.text.strip() == tree.delimiter.join(tree.steps(best.id)).strip()
    assert json.dumps(best.id) in first.text or f"node {best.id}" in first.text
