"""report.html, the report as one self-contained page: its markup from stored results files,
then the page itself in a real browser.

The browser is Debian's Chromium, driven through Debian's chromedriver (same source package,
so always the same version) by Selenium; nothing is downloaded. Without them the browser tests
fail saying what to install (.ci/run installs them). Each screenshot is saved in the test's
temp folder and copied to $TEST_ARTIFACTS/report-page/ when that is set (.ci/run sets it).
"""

import base64
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from bench import REPO
from bench.render import headline, html, report
from bench.render.markdown import TIMES

DATA = Path(__file__).parent / "data"
RUNS = [*sorted(DATA.glob("results-v2*.json")), REPO / "reports/published/default/results.json"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get install chromium chromium-driver (Debian's; .ci/run installs them)"


def written(results: Path, folder: Path) -> tuple[str, str]:
    """write_report on a copy of `results` in `folder`: (report.md, report.html)."""
    shutil.copy(results, folder / "results.json")
    markdown = report.write_report(folder).read_text()
    return markdown, (folder / "report.html").read_text()


def h2s(page: str) -> list[str]:
    """The text of each level-2 heading of the page."""
    return [unescape(re.sub(r"<[^>]+>", "", h)) for h in re.findall(r"<h2>(.*?)</h2>", page)]


FULL = DATA / "results-v2.json"  # 8 sweeps: its plots take seconds
SLOW_RUNS = {FULL, DATA / "results-v2-cost.json", RUNS[-1]}  # over 2 s each


@pytest.mark.parametrize(
    "results",
    [pytest.param(r, marks=pytest.mark.slow) if r in SLOW_RUNS else r for r in RUNS],
    ids=lambda p: p.parent.name + "/" + p.name,
)
def test_the_page_has_the_reports_sections_its_plots_inline_and_loads_nothing(
    results: Path, tmp_path: Path
) -> None:
    markdown, page = written(results, tmp_path)
    titles = re.findall(r"^## (.*)$", markdown, re.MULTILINE)
    assert titles and h2s(page) == [t.replace("`", "") for t in titles]
    assert page.count("<details class=section open><summary><h2>") == len(titles)
    assert (
        page.count("<details")
        == page.count("</details>")
        == len(titles) + markdown.count("<details>")
    )
    plots = re.findall(r"^!\[(.*)\]\((.*)\)$", markdown, re.MULTILINE)
    assert plots and len(plots) == len(list(tmp_path.glob("*.svg")))
    for title, _ in plots:
        assert page.count(f'<svg role="img" aria-label="{title}"') == 1
    assert "<img" not in page and "<?xml" not in page
    for tag, url in re.findall(r'<(\w+)\s[^>]*?\b(?:src|href)="([^"]*)"', page):
        assert tag == "a" or url.startswith(("data:", "#")), f"<{tag}> loads {url}"
    assert page.count("<script>") == 1


def test_the_pages_policy_lets_its_own_script_run_and_nothing_else() -> None:
    page = html.page("# T\n\n| a |\n| --- |\n| 1 |\n", Path("."))
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    (policy,) = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy.startswith("default-src 'none';") and f"script-src 'sha256-{digest}'" in policy


def test_a_level_2_heading_inside_a_fold_is_no_section_of_its_own() -> None:
    markdown = (
        "# T\n\n## A\n\ntext\n\n<details><summary>more</summary>\n\n## inside\n\n| x |\n"
        "| --- |\n| 1 |\n\n</details>\n\n## B\n\n![no such plot](missing.svg)\n"
    )
    page = html.page(markdown, Path("."))
    assert page.count("<details class=section open>") == 2
    assert "<details><summary>more</summary>" in page and "<table>" in page
    assert '<img src="missing.svg" alt="no such plot"' in page  # as it is (never fetched)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium (as root: without its sandbox), its console recorded."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"no {' or '.join(missing)}: {INSTALL}", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page of results-v2.json (three sweeps, a skip), its plots beside it."""
    folder = tmp_path_factory.mktemp("run")
    written(DATA / "results-v2.json", folder)
    return folder / "report.html"


@pytest.fixture
def loaded(browser: webdriver.Chrome, page_file: Path) -> webdriver.Chrome:
    """The browser on a fresh load of the page, in the light theme, its console emptied."""
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    browser.get(page_file.as_uri())
    browser.get_log("browser")  # what an earlier test left
    return browser


def complaints(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    """The console's errors and warnings since last read."""
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def keep(path: Path) -> None:
    """Keep a screenshot where CI keeps its artifacts, when it says where."""
    if folder := os.environ.get("TEST_ARTIFACTS"):
        kept = Path(folder) / "report-page"
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, kept / path.name)


def screenshot(browser: webdriver.Chrome, path: Path) -> None:
    """The whole page as a PNG at `path` (the window grown to the page's height)."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height), 12000))
    assert browser.save_screenshot(str(path))
    browser.set_window_size(1280, 900)
    assert path.stat().st_size > 10_000
    keep(path)


@pytest.mark.slow
def test_the_page_loads_nothing_and_logs_no_error(
    browser: webdriver.Chrome, page_file: Path
) -> None:
    browser.get("about:blank")
    browser.get_log("browser")
    browser.get(page_file.as_uri())
    assert complaints(browser) == []
    loaded = browser.execute_script("return performance.getEntriesByType('resource').length")
    assert loaded == 0
    browser.execute_script("console.error('a probe of the console log')")
    assert "a probe of the console log" in str(complaints(browser))  # the log is read


BOX = "const box = arguments[0].getBBox(); return [box.width, box.height]"


@pytest.mark.slow
def test_every_plot_is_drawn_with_a_size_in_light_and_dark(
    loaded: webdriver.Chrome, page_file: Path, tmp_path: Path
) -> None:
    plots = loaded.find_elements(By.CSS_SELECTOR, "svg[role=img]")
    assert len(plots) == len(list(page_file.parent.glob("*.svg"))) >= 3
    for plot in plots:
        assert plot.is_displayed() and plot.size["width"] > 300 and plot.size["height"] > 100
        box = loaded.execute_script(BOX, plot)
        assert min(box) > 100, f"{plot.get_attribute('aria-label')}: drawn in {box}"
    background = "return getComputedStyle(document.body).backgroundColor"
    light = loaded.execute_script(background)
    screenshot(loaded, tmp_path / "report-light.png")
    dark = [{"name": "prefers-color-scheme", "value": "dark"}]
    loaded.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": dark})
    assert (light, loaded.execute_script(background)) == ("rgb(255, 255, 255)", "rgb(13, 17, 23)")
    screenshot(loaded, tmp_path / "report-dark.png")
    assert complaints(loaded) == []


@pytest.mark.slow
def test_folds_open_and_sections_fold_on_a_click(loaded: webdriver.Chrome) -> None:
    folds = loaded.find_elements(By.CSS_SELECTOR, "details:not(.section)")
    fold = next(f for f in folds if f.is_displayed() and f.get_attribute("open") is None)
    inside = fold.find_element(By.XPATH, "./*[not(self::summary)]")
    assert not inside.is_displayed()
    fold.find_element(By.TAG_NAME, "summary").click()
    assert fold.get_attribute("open") is not None and inside.is_displayed()

    sections = loaded.find_elements(By.CSS_SELECTOR, "details.section")
    last = sections[-1]  # far below the first screen
    content = last.find_element(By.XPATH, "./*[not(self::summary)]")
    assert content.is_displayed()
    last.find_element(By.TAG_NAME, "summary").click()
    assert last.get_attribute("open") is None and not content.is_displayed()
    assert complaints(loaded) == []


def rows(table: WebElement) -> list[list[str]]:
    """The text of each body cell of `table`, row by row."""
    script = "return [...arguments[0].tBodies[0].rows].map(r => [...r.cells].map(c => c.innerText))"
    found: list[list[str]] = table.parent.execute_script(script, table)
    return found


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def numeric_column(tables: list[WebElement]) -> tuple[WebElement, int]:
    """A shown table and a column of plain numbers whose numeric order is not their order as
    text nor the order they are in (so that only a numeric sort puts them right)."""
    for table in (t for t in tables if t.is_displayed()):
        body = rows(table)
        for column in range(len(body[0]) if body else 0):
            texts = [row[column] for row in body if len(row) > column]
            values = [number(t) for t in texts]
            if len(texts) < 3 or None in values:
                continue
            numeric = sorted(texts, key=float)
            if numeric not in (sorted(texts), texts):
                return table, column
    raise AssertionError("no shown table has a column whose sort would show a numeric order")


@pytest.mark.slow
def test_a_click_on_a_header_sorts_its_column_by_number(loaded: webdriver.Chrome) -> None:
    table, column = numeric_column(loaded.find_elements(By.TAG_NAME, "table"))
    before = rows(table)
    header = table.find_elements(By.CSS_SELECTOR, "thead th")[column]
    header.click()
    after = rows(table)
    assert [float(r[column]) for r in after] == sorted(float(r[column]) for r in before)
    assert sorted(after) == sorted(before)  # whole rows move
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    values = [float(r[column]) for r in rows(table)]
    assert values == sorted(values, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    assert complaints(loaded) == []


CHANGES = {"a": f"{TIMES}0.5", "b": "-3.1%", "c": "failed", "d": f"{TIMES}0.25", "e": "+12%"}
SIGNED = "| variant | change |\n| --- | --- |\n" + "".join(
    f"| {name} | {value} |\n" for name, value in {**CHANGES, "f": "10"}.items()
)


@pytest.mark.slow
def test_signs_decimals_and_words_sort_as_numbers_then_words(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """The report's number formats that a text order (even one reading digits as numbers)
    gets wrong: signs, decimals of different lengths; words last either way."""
    path = tmp_path / "report.html"
    path.write_text(html.page(f"# T\n\n## S\n\n{SIGNED}", tmp_path))
    browser.get(path.as_uri())
    (table,) = browser.find_elements(By.TAG_NAME, "table")
    header = table.find_elements(By.CSS_SELECTOR, "thead th")[1]
    header.click()
    assert [row[0] for row in rows(table)] == ["b", "d", "a", "f", "e", "c"]
    header.click()
    assert [row[0] for row in rows(table)] == ["e", "f", "a", "d", "b", "c"]
    assert complaints(browser) == []


@pytest.mark.slow
def test_the_first_screen_holds_the_headline_plot_and_its_sentence(
    loaded: webdriver.Chrome, tmp_path: Path
) -> None:
    """At 1280x800, the first thing a reader sees: the sentence and the whole headline plot."""
    loaded.set_window_size(1280, 800)
    try:
        loaded.execute_script("window.scrollTo(0, 0)")
        screen = loaded.execute_script("return [window.innerWidth, window.innerHeight]")
        plot = loaded.find_element(By.CSS_SELECTOR, f'svg[aria-label="{headline.TITLE}"]')
        top, bottom, width = loaded.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.top, r.bottom, r.width]",
            plot,
        )
        assert 0 <= top < bottom <= screen[1], (top, bottom, screen)
        assert width > 0.6 * screen[0], width  # drawn large, not a thumbnail
        sentence = loaded.find_element(By.XPATH, "//h1/following::p[2]/strong")
        assert sentence.is_displayed() and "Welch's t-test over the repeats" in sentence.text
        assert sentence.location["y"] < top
        assert loaded.save_screenshot(str(tmp_path / "first-screen.png"))
        keep(tmp_path / "first-screen.png")
    finally:
        loaded.set_window_size(1280, 900)
    assert complaints(loaded) == []
