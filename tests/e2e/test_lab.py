"""The course in JupyterLab, in Chromium, as a learner uses it."""

from __future__ import annotations

import json
import shutil

from lab_driver import (
    ROOT,
    errors_shown,
    open_notebook,
    press_slider,
    run_all,
    run_command,
    start_lab,
    wait_idle,
    widget_images,
)


def test_chapter_00_runs_and_its_widget_redraws(lab, browser, artifacts):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    open_notebook(page, lab, "notebooks/00-start-here.ipynb")
    page.screenshot(path=str(artifacts / "00-opened.png"))
    run_all(page)
    page.screenshot(path=str(artifacts / "00-ran.png"), full_page=True)
    assert errors_shown(page) == []
    before = widget_images(page)
    assert before, "the widget's picture is not shown"
    ms = press_slider(page, 0)
    assert ms >= 0, "the picture did not change within 10 s of the key press"
    assert widget_images(page) != before
    page.locator(".widget-image").first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "00-slider-moved.png"))
    print(f"chapter 00 widget: {ms:.0f} ms from key press to new picture")
    # Nothing was written into the course: the learner's copy is the one that ran.
    page.close()


def test_the_url_printed_opens_chapter_00_and_markdown_opens_rendered(lab, browser, artifacts):
    assert "/lab/tree/notebooks/00-start-here.ipynb?token=" in lab.output()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    open_notebook(page, lab, "notebooks/00-start-here.ipynb")
    run_command(page, "docmanager:open", {"path": "handbook/how-the-course-works.md"})
    # Rendered, in a Markdown viewer, not as text in an editor.
    page.locator(".jp-MarkdownViewer .jp-RenderedMarkdown h1").first.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "handbook-rendered.png"))
    # No news or update notice is shown.
    assert page.locator(".jp-Notification-Toast-content").count() == 0
    page.close()


def test_the_workspace_keeps_changes_and_gains_new_chapters(tmp_path, home, browser, artifacts):
    # A course checkout of our own, so a chapter can be added to it.
    course = tmp_path / "course"
    for name in ("notebooks", "exercises", "handbook"):
        shutil.copytree(ROOT / name, course / name)
    (course / "src").symlink_to(ROOT / "src")
    workspace = tmp_path / "workspace"

    lab = start_lab(course, workspace, home)
    try:
        assert "added notebooks/00-start-here.ipynb" in lab.output()
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        open_notebook(page, lab, "notebooks/00-start-here.ipynb")
        # The learner adds a cell at the top, types into it and saves.
        run_command(page, "notebook:insert-cell-above")
        page.keyboard.press("Enter")
        page.keyboard.type("# my note: prefetch=1 wins")
        page.keyboard.press("Escape")
        run_command(page, "docmanager:save")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(artifacts / "workspace-saved.png"))
        page.close()
    finally:
        out = lab.stop()
    assert "Traceback" not in out, out
    mine = workspace / "notebooks" / "00-start-here.ipynb"
    assert "my note: prefetch=1 wins" in mine.read_text()
    assert "my note" not in (course / "notebooks" / "00-start-here.ipynb").read_text()

    # The course gains a chapter (and its 00 changes too); the learner starts again.
    new = course / "notebooks" / "99-new-chapter.ipynb"
    nb = json.loads((course / "notebooks" / "00-start-here.ipynb").read_text())
    nb["cells"] = nb["cells"][:1]
    new.write_text(json.dumps(nb))
    course_00 = course / "notebooks" / "00-start-here.ipynb"
    course_00.write_text(course_00.read_text().replace("Welcome", "Hello"))

    lab = start_lab(course, workspace, home)
    try:
        out = lab.output()
        assert "added notebooks/99-new-chapter.ipynb" in out
        assert "kept your copy of notebooks/00-start-here.ipynb" in out
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        open_notebook(page, lab, "notebooks/00-start-here.ipynb")
        assert page.get_by_text("my note: prefetch=1 wins").count() >= 1
        run_command(page, "filebrowser:go-to-path", {"path": "notebooks"})
        page.get_by_text("99-new-chapter.ipynb").first.wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts / "workspace-new-chapter.png"))
        page.close()
    finally:
        out = lab.stop()
    assert "Traceback" not in out, out
    assert out.rstrip().endswith("Stopped the course server and its kernels."), out[-500:]


def test_the_browser_widget_benchmark_runs(browser, tmp_path):
    """A smoke run of benchmarks/bench_widgets_browser.py (what it prints, never its timings)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_widgets_browser.py"), "--presses", "2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "end to end p95" in done.stdout and "fair dispatch" in done.stdout
    assert "no new picture" not in done.stdout, done.stdout


def shown_title(widget) -> str:
    """The text of a live_figure's title, as the browser shows it."""
    import html
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", widget.title.value)).split())


def test_chapter_03_replay_follows_the_history_and_the_guarantee_widget_redraws(
    lab, browser, artifacts
):
    from brokerlab import Fault, Scenario, replay, simulate

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    open_notebook(page, lab, "notebooks/03-delivery-guarantees.ipynb")
    run_all(page, timeout=240_000)
    assert errors_shown(page) == []

    # The first replay widget is the run where an at-least-once consumer processes m1 twice.
    twice = simulate(Scenario(messages=3, faults=[Fault("crash_after_processing", msg="m1")]))
    second = [e for e in twice.history.of_kind("process") if e.msg == "m1"][1]
    expected = replay(twice, step=second.index)
    slider = next(iter(expected.controls.values()))
    first = page.locator(".jp-Notebook .widget-vbox").filter(has=page.locator(".widget-slider"))
    first = first.first
    title = first.locator(".widget-html-content").first

    def shows(want: str) -> None:
        """Wait until the replay's title reads ``want`` (JupyterLab renders only the cells in
        view, so the widget is scrolled into view first)."""
        first.scroll_into_view_if_needed()
        page.wait_for_function(
            "([el, want]) => el.innerText.split(/\\s+/).join(' ').trim() === want",
            arg=[title.element_handle(), want],
            timeout=10_000,
        )

    shows(shown_title(expected))
    for step in range(1, 4):  # step forward event by event: the state shown follows
        ms = press_slider(page, 0)
        assert ms >= 0, f"the replay did not redraw at step +{step}"
        slider.value = second.index + step
        shows(shown_title(expected))
        page.screenshot(path=str(artifacts / f"03-replay-step-{step}.png"))

    # The guarantee widget (the last one): moving its seed slider redraws the picture.
    guarantee = page.locator(".jp-Notebook .widget-vbox").filter(has=page.locator("select")).last
    guarantee.scroll_into_view_if_needed()
    before = guarantee.locator(".widget-image").get_attribute("src")
    sliders = page.locator(".jp-Notebook .widget-slider .noUi-handle")
    ms = press_slider(page, sliders.count() - 1)
    assert ms >= 0 and guarantee.locator(".widget-image").get_attribute("src") != before
    page.screenshot(path=str(artifacts / "03-guarantee-widget.png"))
    page.close()


CORRECT = """def handle(delivery, ctx):
    seen = ("seen", delivery.payload["payment_id"])
    with ctx.db.transaction() as tx:
        if tx.get(seen) is None:
            key = ("balance", delivery.payload["account"])
            tx.put(key, tx.get(key, 0) + delivery.payload["amount"])
            tx.put(seen, 1)
    ctx.ack()
"""

# The plausible wrong answer: the same code, deduplicating by the message's id, which a producer
# retry changes.
WRONG = CORRECT.replace('delivery.payload["payment_id"]', "delivery.id")


def cell_output(page, index: int) -> str:
    return page.evaluate(
        """(i) => {
            const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
            return cell.outputArea.node.innerText;
        }""",
        index,
    )


def type_into_cell(page, index: int, text: str) -> None:
    """Replace cell ``index``'s code as a learner would: select all of it and type anew."""
    page.evaluate(
        "(i) => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = i; }", index
    )
    run_command(page, "notebook:enter-edit-mode")
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)
    page.keyboard.press("Escape")


def run_cells(page, *indices: int) -> None:
    for i in indices:
        page.evaluate(
            "(i) => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = i; }", i
        )
        run_command(page, "notebook:run-cell")
        wait_idle(page)
    page.wait_for_timeout(300)
    wait_idle(page)


def test_exercise_2_grades_the_stub_a_correct_answer_and_a_wrong_one(lab, browser, artifacts):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    open_notebook(page, lab, "exercises/ex02_idempotent_consumer.ipynb")
    run_all(page)
    cells = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.map(c => c.model.sharedModel.getSource())"
    )
    answer = next(i for i, src in enumerate(cells) if src.startswith("def handle"))
    grade = next(i for i, src in enumerate(cells) if src.startswith('check("ex02'))

    stub = cell_output(page, grade)
    assert "(0/10 points)" in stub and "Hint" in stub, stub[:500]
    page.screenshot(path=str(artifacts / "ex02-stub.png"))

    type_into_cell(page, answer, CORRECT)
    run_cells(page, answer, grade)
    full = cell_output(page, grade)
    assert "5/5 checks passed (10/10 points)" in full, full[:500]
    page.screenshot(path=str(artifacts / "ex02-correct.png"))

    type_into_cell(page, answer, WRONG)
    run_cells(page, answer, grade)
    wrong = cell_output(page, grade)
    assert "(10/10 points)" not in wrong and "Hint" in wrong, wrong[:500]
    # The counterexample is folded under its row: open it, as a learner would, and read it.
    page.evaluate(
        """(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].outputArea.node
                .querySelectorAll('details').forEach(d => { d.open = true; })""",
        grade,
    )
    shown = cell_output(page, grade)
    assert "history" in shown and "the producer publishes" in shown, shown[:1500]
    page.screenshot(path=str(artifacts / "ex02-wrong.png"))
    assert errors_shown(page) == []
    page.close()
