"""What a person sees, in a real headless Chromium (Debian's chromium + chromium-driver via
Selenium): the runs table, drawn charts, zoom re-fetching, a RUNNING run's chart growing
while another process logs (points at steps already shown included, re-sampled when it
holds too many), new keys of a RUNNING run, the runs table following running runs and
paging a parent's children, an XSS run name shown as text, a sandboxed HTML artifact.

One server (``trackbridge ui``, the real command) and one browser for the whole module.
Screenshots of every page go to ``.screenshots/`` (or ``$TRACKBRIDGE_SCREENSHOTS``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ui_support import MARKUP_KEY, XSS_NAME, build_demo

from testsupport.browser import canvas_ink, start_chromium
from testsupport.servers import stop_group
from trackbridge import registry
from trackbridge.entities import Metric
from trackbridge.local.store import LocalBackend

REPO = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("TRACKBRIDGE_SCREENSHOTS", REPO / ".screenshots"))
TRACKBRIDGE = str(Path(sys.executable).with_name("trackbridge"))
POINTS = 200_000


def wait_for(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-browser")
    demo = build_demo(root / "tbruns", points=POINTS)
    stop = root / "stop-writer"
    writer = subprocess.Popen([sys.executable, str(Path(__file__).with_name("ui_writer.py")),
                               str(demo.root), str(stop)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    live_id = writer.stdout.readline().strip()
    server = subprocess.Popen([TRACKBRIDGE, "ui", "--store", str(demo.root), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    driver = None
    try:
        line = server.stdout.readline()
        assert " at http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].split()[0]
        driver = start_chromium(root / "profile")
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield {"demo": demo, "url": url, "driver": driver, "live": live_id, "stop": stop,
               "writer": writer}
    finally:
        stop.touch()
        if driver is not None:
            driver.quit()
        stop_group(server)
        try:
            writer.wait(timeout=20)
        finally:
            stop_group(writer)
        registry.close_all()


class LiveWriter:
    """A ``ui_live_writer.py`` process: ``read()`` its next JSON line, ``signal("go-1")``,
    ``stop()`` (its runs end FINISHED)."""

    def __init__(self, site, scenario, control):
        control.mkdir()
        self.control = control
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("ui_live_writer.py")),
             str(site["demo"].root), str(control), scenario],
            stdout=subprocess.PIPE, text=True, start_new_session=True)

    def read(self):
        return json.loads(self.process.stdout.readline())

    def signal(self, name):
        (self.control / name).touch()

    def stop(self):
        self.signal("stop")
        try:
            assert self.process.wait(timeout=20) == 0
        finally:
            stop_group(self.process)


@pytest.fixture
def live_writer(site, tmp_path):
    started = []

    def start(scenario):
        started.append(LiveWriter(site, scenario, tmp_path / scenario))
        return started[-1]

    yield start
    for writer in started:
        if writer.process.poll() is None:
            writer.stop()


def visit(site, path, shot=None):
    driver = site["driver"]
    driver.get(site["url"] + path)
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete", what=path)
    return driver


def screenshot(site, name, whole=True):
    """The whole page (the window grown to its height, then put back), or what is in view."""
    driver = site["driver"]
    if not whole:
        driver.save_screenshot(str(SHOTS / f"{name}.png"))
        return
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height, 1000), 3000))
    time.sleep(0.3)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1400, 1000)


def api(site, path):
    with urllib.request.urlopen(site["url"] + path, timeout=10) as response:
        return json.loads(response.read())


def errors_in_console(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def charts_drawn(driver, selector="figure.chart"):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".every(f => Number(f.dataset.drawn || 0) > 0)", selector)


def test_runs_table_lists_the_runs_and_unfolds_children(site):
    driver = visit(site, "/experiments/demo")
    names = [a.text for a in driver.find_elements("css selector", "#runs tbody td.name a")]
    assert sorted(names) == sorted(["live-training", "parent", XSS_NAME])
    driver.find_element("css selector", f'button.expand[data-parent="{site["demo"].parent}"]').click()
    wait_for(lambda: len(driver.find_elements("css selector", "#runs tbody tr")) == 6, what="children")
    rows = [r.text for r in driver.find_elements("css selector", "#runs tbody tr.level-1 td.name")]
    assert sorted(rows) == ["child-0", "child-1", "child-2"]
    screenshot(site, "ui-experiment")
    visit(site, "/")
    screenshot(site, "ui-home")
    assert errors_in_console(driver) == []


def test_charts_draw_every_metric_of_a_200k_point_run(site):
    driver = visit(site, f"/runs/{site['demo'].parent}")
    wait_for(lambda: charts_drawn(driver), what="all charts drawn")
    for key in ("acc", "loss", "odd"):
        assert canvas_ink(driver, f'figure.chart[data-key="{key}"] canvas') > 2_000, key
    note = driver.find_element("css selector", 'figure.chart[data-key="loss"] .chart-note').text
    assert note.endswith(f"of {POINTS:,} points (every spike kept)") and note.split()[0] != f"{POINTS:,}"
    odd = driver.find_element("css selector", 'figure.chart[data-key="odd"] .chart-note').text
    assert odd == "7 points · 1 NaN, 1 +inf, 1 -inf"
    screenshot(site, "ui-run")
    assert errors_in_console(driver) == []


def test_zooming_refetches_that_range_at_full_resolution(site):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = visit(site, f"/runs/{site['demo'].parent}")
    wait_for(lambda: charts_drawn(driver), what="charts")
    figure = driver.find_element("css selector", 'figure.chart[data-key="loss"]')
    before = int(figure.get_attribute("data-fetches"))
    over = figure.find_element("css selector", ".u-over")
    width = over.size["width"]
    ActionChains(driver).move_to_element_with_offset(over, -width // 2 + 200, 0).click_and_hold() \
        .move_by_offset(6, 0).release().perform()  # about 1/100 of the steps
    wait_for(lambda: figure.get_attribute("data-range"), what="zoomed range")
    start, end = map(int, figure.get_attribute("data-range").split("-"))
    assert int(figure.get_attribute("data-fetches")) == before + 1 and 0 < start < end < POINTS
    note = figure.find_element("css selector", ".chart-note").text
    assert note.startswith(f"steps {start}–{end} · ")
    total = int(figure.get_attribute("data-total"))
    assert total == end - start + 1  # every point of the range, counted by the server
    screenshot(site, "ui-run-zoomed")
    over = figure.find_element("css selector", ".u-over")  # the chart was redrawn
    ActionChains(driver).double_click(over).perform()
    wait_for(lambda: figure.get_attribute("data-range") == "", what="zoom reset")
    assert int(figure.get_attribute("data-total")) == POINTS


def test_a_running_runs_chart_grows_and_stops_polling_when_it_ends(site):
    driver = visit(site, f"/runs/{site['live']}")
    figure = driver.find_element("css selector", 'figure.chart[data-key="live"]')
    wait_for(lambda: figure.get_attribute("data-drawn"), what="live chart")
    assert driver.find_element("css selector", "#run-head h1 [data-status]").text == "RUNNING"
    first = int(figure.get_attribute("data-total"))
    wait_for(lambda: int(figure.get_attribute("data-total")) > first + 20, timeout=15, what="growth")
    fetches = int(figure.get_attribute("data-fetches"))
    assert int(figure.get_attribute("data-drawn")) > 1 and fetches > 1
    assert figure.get_attribute("data-refetches") is None  # new steps: only the tails fetched
    screenshot(site, "ui-run-live")
    site["stop"].touch()
    site["writer"].wait(timeout=20)
    wait_for(lambda: driver.find_element("css selector", "#run-head h1 [data-status]").text
             == "FINISHED", timeout=15, what="FINISHED")
    wait_for(lambda: figure.get_attribute("data-live") == "0", what="polling stopped")
    settled = int(figure.get_attribute("data-fetches"))
    time.sleep(4.5)  # two poll intervals
    assert int(figure.get_attribute("data-fetches")) == settled


def test_points_logged_at_a_step_already_shown_reach_the_live_chart(site, live_writer):
    writer = live_writer("nosteps")  # log_metric without a step: every point at step 0
    run = writer.read()["run"]
    driver = visit(site, f"/runs/{run}")
    figure = driver.find_element("css selector", 'figure.chart[data-key="loss"]')
    wait_for(lambda: figure.get_attribute("data-drawn"), what="live chart")
    first = int(figure.get_attribute("data-total"))
    wait_for(lambda: int(figure.get_attribute("data-total")) >= first + 15, timeout=15,
             what="points logged at step 0 on the chart")
    assert int(figure.get_attribute("data-refetches")) >= 1
    screenshot(site, "ui-run-live-no-steps")
    writer.stop()
    wait_for(lambda: figure.get_attribute("data-live") == "0", timeout=15, what="polling stopped")
    count = api(site, f"/api/runs/{run}/metrics/loss")["count"]
    assert int(figure.get_attribute("data-total")) == count  # every point logged is on it
    note = figure.find_element("css selector", ".chart-note").text
    assert note == f"{count} points · all at step 0"  # drawn by time since start, not as a line at 0
    assert "time since start" in figure.find_element("css selector", ".u-legend").text


def test_a_live_chart_is_sampled_again_instead_of_growing_without_limit(site, live_writer):
    writer = live_writer("fast")  # 10,000 points a second at new steps
    run = writer.read()["run"]
    driver = visit(site, f"/runs/{run}")
    figure = driver.find_element("css selector", 'figure.chart[data-key="loss"]')
    wait_for(lambda: figure.get_attribute("data-drawn"), what="live chart")
    width = driver.execute_script("return arguments[0].querySelector('.plot').clientWidth", figure)
    limit = min(max(round(max(width, 300) * 4), 400), 8000)  # the chart's max points
    most = 0
    note = figure.find_element("css selector", ".chart-note")

    def grown():
        nonlocal most
        most = max(most, int(note.text.split()[0].replace(",", "")))  # "2,516 of 81,001 points"
        polled = int(figure.get_attribute("data-drawn")) - 1  # draws after the first
        return polled >= 4 and int(figure.get_attribute("data-total")) > 5 * limit

    wait_for(grown, timeout=60, what=f"4 polls and {5 * limit:,} points logged")
    assert 0 < most <= 1.5 * limit, (most, limit)
    assert int(figure.get_attribute("data-max-points")) == limit
    assert int(figure.get_attribute("data-refetches")) >= 1
    assert note.text.endswith(" points (every spike kept)"), note.text
    screenshot(site, "ui-run-live-fast")
    writer.stop()
    wait_for(lambda: figure.get_attribute("data-live") == "0", timeout=15, what="polling stopped")
    assert int(figure.get_attribute("data-shown")) <= 1.5 * limit


def test_a_running_runs_page_adds_charts_and_table_rows_for_new_keys(site, live_writer):
    from selenium.common.exceptions import NoAlertPresentException

    writer = live_writer("keys")  # no metric yet; at go-1 acc and loss, at go-2 MARKUP_KEY
    run = writer.read()["run"]
    driver = visit(site, f"/runs/{run}")
    assert "No metrics logged." in driver.find_element("id", "charts-section").text
    figures = lambda: driver.find_elements("css selector", "#charts figure.chart")  # noqa: E731
    writer.signal("go-1")
    wait_for(lambda: len(figures()) == 2 and charts_drawn(driver), timeout=15, what="new charts")
    assert [f.get_attribute("data-key") for f in figures()] == ["acc", "loss"]
    assert not driver.find_element("id", "no-charts").is_displayed()
    assert driver.find_element("id", "chart-controls").is_displayed()

    def points(key):
        cell = driver.find_elements("css selector", f'#metrics-table tr[data-key="{key}"] td')
        return int(cell[4].text.replace(",", "")) if cell else -1

    wait_for(lambda: points("acc") > 0, what="a table row for acc")
    first = points("acc")
    wait_for(lambda: points("acc") > first + 5, what="the table refreshed")
    writer.signal("go-2")
    wait_for(lambda: len(figures()) == 3 and charts_drawn(driver), timeout=15, what="a third chart")
    assert [f.get_attribute("data-key") for f in figures()] == ["acc", "loss", MARKUP_KEY]
    assert figures()[2].find_element("css selector", ".chart-title").text == MARKUP_KEY
    wait_for(lambda: points(MARKUP_KEY) > 0, what="a table row for the new key")
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 (the key as markup would have opened one)
    assert driver.execute_script('return document.querySelectorAll("img[src=x]").length') == 0
    screenshot(site, "ui-run-live-new-keys")
    writer.stop()
    head = driver.find_element("id", "run-head")
    wait_for(lambda: head.find_element("css selector", "[data-status]").text == "FINISHED",
             timeout=15, what="FINISHED")
    polls = head.get_attribute("data-polls")
    time.sleep(4)  # more than a poll interval
    assert head.get_attribute("data-polls") == polls
    summary = {m["key"]: m for m in api(site, f"/api/runs/{run}")["metrics"]}
    rows = driver.find_elements("css selector", "#metrics-table tbody tr")
    assert [r.get_attribute("data-key") for r in rows] == ["acc", "loss", MARKUP_KEY]
    for row in rows:
        m = summary[row.get_attribute("data-key")]
        cells = [td.text for td in row.find_elements("css selector", "td")]
        assert cells[4:] == [f"{m['count']:,}", str(m["last_step"])]
    assert driver.find_element("id", "run-end").text != "—"
    assert errors_in_console(driver) == []


def row_status(driver, run_id):
    found = driver.find_elements("css selector", f'#runs tr[data-run="{run_id}"] [data-status]')
    return found[0].text if found else None


def test_runs_table_follows_running_children_and_new_runs(site, live_writer):
    writer = live_writer("table")  # a RUNNING parent with a RUNNING child; at go-1 more runs
    ids = writer.read()
    driver = visit(site, "/experiments/live-table")
    parent_id = ids["parent"]
    parent = f'#runs tr[data-run="{parent_id}"]'
    driver.find_element("css selector", f"{parent} input[name=run]").click()
    driver.find_element("css selector", f"{parent} button.expand").click()
    wait_for(lambda: row_status(driver, ids["first"]) == "RUNNING", what="the child row")
    writer.signal("go-1")
    ids.update(writer.read())
    wait_for(lambda: row_status(driver, ids["second"]) == "RUNNING"
             and row_status(driver, ids["first"]) == "FINISHED"
             and row_status(driver, ids["later"]) == "RUNNING", timeout=15,
             what="a new child, a finished child, a new run")
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('#runs tbody tr'), "
        "r => [r.dataset.run, r.className, r.dataset.childOf || null])")
    assert rows == [[ids["later"], "level-0", None], [ids["parent"], "level-0", None],
                    [ids["second"], "level-1", ids["parent"]],
                    [ids["first"], "level-1", ids["parent"]]]
    assert driver.find_element("css selector", f"{parent} input[name=run]").is_selected()
    expand = driver.find_element("css selector", f"{parent} button.expand")
    assert expand.get_attribute("aria-expanded") == "true" and expand.text == "▾ 2"
    assert driver.find_element("id", "run-count").text == "4 runs"
    screenshot(site, "ui-experiment-live")
    writer.stop()
    wait_for(lambda: all(row_status(driver, ids[k]) == "FINISHED" for k in ids), timeout=15,
             what="every run FINISHED")
    table = driver.find_element("id", "runs")
    polls = table.get_attribute("data-polls")
    time.sleep(4)  # more than a poll interval: a finished experiment is not polled
    assert table.get_attribute("data-polls") == polls
    assert errors_in_console(driver) == []


def test_unfolding_a_parent_of_over_a_thousand_children_pages_them(site):
    store = LocalBackend(site["demo"].root)
    experiment = store.get_or_create_experiment("sweep").id
    start = time.time_ns() // 1_000_000 - 3_600_000
    parent = store.create_run(experiment, run_name="sweep", start_time=start, tags={}).id
    for i in range(1003):
        begun = start + 3_000 * i
        child = store.create_run(experiment, run_name=f"trial-{i}", start_time=begun, tags={},
                                 parent_run_id=parent).id
        store.log_batch(child, [Metric("loss", 1 / (i + 1), begun + 1_000, 0)])
        store.update_run(child, status="FINISHED", end_time=begun + 2_500 + i)
    store.update_run(parent, status="FINISHED", end_time=start + 3_000 * 1003)
    store.close()
    driver = visit(site, "/experiments/sweep?sort=name&order=asc&columns=metrics.loss")
    driver.find_element("css selector", "button.expand").click()
    children = ("return Array.from(document.querySelectorAll('#runs tr.level-1 td.name a'), "
                "a => a.textContent)")
    wait_for(lambda: len(driver.execute_script(children)) == 1000, what="the first 1,000")
    more = driver.find_element("css selector", "#runs tr.more-runs button.show-more")
    assert more.text == "show 3 more"
    assert "(1,000 of 1,003 child runs shown)" in driver.find_element(
        "css selector", "#runs tr.more-runs").text
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", more)
    screenshot(site, "ui-experiment-show-more", whole=False)
    more.click()
    wait_for(lambda: len(driver.execute_script(children)) == 1003, what="all 1,003")
    assert driver.execute_script(children) == sorted(f"trial-{i}" for i in range(1003))
    assert driver.find_elements("css selector", "#runs tr.more-runs") == []
    last = driver.find_elements("css selector", "#runs tr.level-1")[-1]
    assert last.find_elements("css selector", "td")[-1].text == "0.001"  # trial-999's loss
    assert errors_in_console(driver) == []


def test_a_run_named_like_markup_is_shown_as_text_and_runs_nothing(site):
    from selenium.common.exceptions import NoAlertPresentException

    for path in ("/experiments/demo", f"/runs/{site['demo'].xss}",
                 f"/compare?runs={site['demo'].xss},{site['demo'].parent}"):
        driver = visit(site, path)
        time.sleep(0.5)
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 (alert(1) would have opened one)
        assert driver.execute_script('return document.querySelectorAll("img[src=x]").length') == 0
        assert XSS_NAME in driver.find_element("tag name", "main").text


def test_an_html_artifact_cannot_reach_the_page(site):
    driver = visit(site, f"/runs/{site['demo'].parent}/artifacts/report.html")
    frame = driver.find_element("css selector", "iframe#html-preview")
    assert frame.get_attribute("sandbox") == ""
    time.sleep(1)
    assert driver.title == "report.html · parent · trackbridge"
    assert driver.execute_script("return window.__pwned === undefined")
    driver.switch_to.frame(frame)
    try:
        assert driver.find_element("id", "msg").text == "static text"  # its script never ran
    finally:
        driver.switch_to.default_content()
    screenshot(site, "ui-artifact")
    visit(site, f"/runs/{site['demo'].parent}/artifacts/tables/history.csv")
    cells = [td.text for td in driver.find_elements("css selector", "#preview tbody tr:first-child td")]
    assert cells == ["0", "1.5"]


def test_compare_overlays_runs_and_plots_params_against_metrics(site):
    demo = site["demo"]
    driver = visit(site, f"/compare?runs={demo.parent},{','.join(demo.children)}")
    wait_for(lambda: charts_drawn(driver), what="compare charts")
    assert canvas_ink(driver, 'figure.chart[data-key="loss"] canvas') > 2_000
    assert canvas_ink(driver, "canvas#scatter") > 500 and canvas_ink(driver, "canvas#parallel") > 500
    legend = driver.find_elements("css selector", 'figure.chart[data-key="loss"] .u-legend .u-label')
    assert [e.text for e in legend][1:] == ["parent", "child-0", "child-1", "child-2"]
    screenshot(site, "ui-compare")
    visit(site, "/models/churn")
    assert "prod" in driver.find_element("id", "versions").text
    screenshot(site, "ui-model")
    assert errors_in_console(driver) == []
