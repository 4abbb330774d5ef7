"""The learner's course as it is met in JupyterLab, in a real headless Chromium (Debian's,
driven by Playwright).

JupyterLab starts as ``make lab`` starts it (from the repository, with ``lab/jupyter_lab_config.py``
and this venv's lab extensions), on a scratch copy of the released chapter 1 (``course/01_se``,
the quickest chapter), with its own empty user settings and workspaces, on 127.0.0.1. The
notebook is run with *Run All* as a learner would; then the tests check that locked cells are
visibly marked and ignore typing, that locked instruction markdown can be neither edited nor
deleted, that no menu or toolbar entry is blank or left over from a disabled extension, and
press nbgrader's *Validate*.
"""
import json
import time
import urllib.request
from pathlib import Path

import pytest

import jupyter_browser

ROOT = Path(__file__).resolve().parent.parent
CHAPTER, NOTEBOOK = "01_se", "se.ipynb"
pytestmark = pytest.mark.slow

# the commands of nbgrader's lab plugins that `make lab` leaves out of its page (formgrader,
# assignment and course lists, create-assignment: lab/jupyter_lab_config.py); none of them may
# show up in a menu
DISABLED_COMMANDS = ("nbgrader:open-assignment-list", "nbgrader:open-course-list",
                     "nbgrader:open-create-assignment", "nbgrader:open-formgrader")

CELLS_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(c => {
    const ed = c.querySelector('.jp-InputArea-editor');
    return {
        type: c.classList.contains('jp-CodeCell') ? 'code' : 'markdown',
        prompt: c.querySelector('.jp-InputPrompt')?.textContent.trim() ?? '',
        text: c.querySelector('.cm-content')?.textContent ?? '',
        label: ed ? getComputedStyle(ed, '::after').content : 'none',
        background: ed ? getComputedStyle(ed).backgroundImage : 'none',
        outputs: c.querySelector('.jp-OutputArea')?.textContent ?? '',
    };
})"""

KERNEL_IDLE = """document.querySelector(
    '.jp-NotebookPanel-toolbar [data-jp-item-name="executionProgress"]')?.textContent.includes('Idle')"""

RUN_DONE = """() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent.trim());
    return """ + KERNEL_IDLE + """ && prompts.length > 0
        && /\\[\\d+\\]/.test(prompts[0]) && !prompts.some(p => p.includes('*'));
}"""


def _menu(page, title):
    page.locator(".lm-MenuBar-item", has_text=title).first.click()
    menu = page.locator(".lm-Menu").first
    menu.wait_for()
    return menu


def _wait_for_kernel(base, tries=240):
    """Until the notebook's kernel has started and is idle, as the server sees it."""
    for _ in range(tries):
        with urllib.request.urlopen(f"{base}/api/sessions", timeout=10) as r:
            sessions = json.load(r)
        if any(s["path"].endswith(NOTEBOOK)
               and (s.get("kernel") or {}).get("execution_state") == "idle" for s in sessions):
            return
        time.sleep(0.5)
    pytest.fail(f"the kernel of {NOTEBOOK} did not start")


def _cells(page):
    return page.evaluate(CELLS_JS)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    jupyter_browser.require_chromium()
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("lab")
    with jupyter_browser.make_lab(ROOT / "course" / CHAPTER, tmp) as base, \
            sync_playwright() as p:
        browser = jupyter_browser.launch(p)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(f"{base}/lab/tree/{CHAPTER}/{NOTEBOOK}")
        _wait_for_kernel(base)
        pg.wait_for_function(f"() => {KERNEL_IDLE}", timeout=120_000)
        _menu(pg, "Run").locator('[data-command="runmenu:run-all"]').click()
        try:
            pg.wait_for_function(RUN_DONE, timeout=120_000, polling=500)
        except Exception:
            pg.screenshot(path=str(tmp / "run-all.png"))
            pytest.fail(f"Run All did not finish (screenshot {tmp / 'run-all.png'}): "
                        f"{[c['prompt'] for c in _cells(pg) if c['type'] == 'code']}")
        pg.notebook = json.loads((tmp / "course" / CHAPTER / NOTEBOOK).read_text())
        yield pg
        browser.close()


def test_run_all_goes_past_the_stubs_to_the_end(page):
    cells = [c for c in _cells(page) if c["type"] == "code"]
    assert [c["prompt"] for c in cells] == [f"[{n}]:" for n in range(1, len(cells) + 1)]
    assert "NotImplementedError" in "".join(c["outputs"] for c in cells)
    # ... where the summary lists the graded steps, with their points, none passing yet
    summary = cells[-1]["outputs"]
    assert "Graded steps" in summary and "Visible tests pass for 0 of 10 points" in summary
    assert "squeeze" in summary and "failed (NotImplementedError)" in summary, summary


def test_locked_cells_are_visibly_marked_and_typing_changes_nothing(page):
    cells = _cells(page)
    meta = page.notebook["cells"]
    assert len(cells) == len(meta)
    for i, (shown, cell) in enumerate(zip(cells, meta)):
        if cell["cell_type"] != "code":
            continue
        locked = cell["metadata"].get("editable", True) is False
        marked = "read-only" in shown["label"] and "gradient" in shown["background"]
        assert marked == locked, (i, cell["metadata"], shown["label"], shown["background"])
    kinds = [(c["cell_type"], c["metadata"].get("editable", True)) for c in meta]
    locked_i = kinds.index(("code", False))
    answer_i = kinds.index(("code", True))
    for i in (locked_i, answer_i):
        before = _cells(page)[i]["text"]
        page.locator(".jp-Notebook .jp-Cell").nth(i).locator(".cm-content").click()
        page.keyboard.press("Control+End")
        page.keyboard.type("  # typed")
        after = _cells(page)[i]["text"]
        if i == locked_i:
            assert after == before, "typing into a locked cell changed it"
        else:    # the same typing does reach a learner's cell
            assert after == before + "  # typed"


def test_locked_markdown_cannot_be_edited_or_deleted(page):
    meta = page.notebook["cells"]
    i = next(i for i, c in enumerate(meta) if c["cell_type"] == "markdown" and i > 0)
    assert meta[i]["metadata"].get("editable") is False and meta[i]["metadata"].get("deletable") is False
    cell = page.locator(".jp-Notebook .jp-Cell").nth(i)
    count = page.locator(".jp-Notebook .jp-Cell").count()
    before = cell.locator(".cm-content").text_content()
    cell.dblclick()                          # opens its source, marked read-only
    editor = cell.locator(".jp-InputArea-editor")
    editor.wait_for()
    assert "read-only" in editor.evaluate("e => getComputedStyle(e, '::after').content")
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("  typed")
    assert cell.locator(".cm-content").text_content() == before
    cell.click()
    page.keyboard.press("Escape")
    page.keyboard.press("d")
    page.keyboard.press("d")
    assert page.locator(".jp-Notebook .jp-Cell").count() == count
    assert page.locator(".jp-Dialog").count() == 0
    item = _menu(page, "Edit").locator('[data-command="notebook:delete-cell"]')
    assert "lm-mod-disabled" in item.get_attribute("class")
    page.keyboard.press("Escape")


def test_menus_and_toolbar_hold_no_dead_entries(page):
    titles = page.locator(".lm-MenuBar-item").all_inner_texts()
    assert titles and all(t.strip() for t in titles), titles
    assert "Nbgrader" not in titles
    for title in titles:
        _menu(page, title)
        items = page.evaluate("""() => [...document.querySelector('.lm-Menu').querySelectorAll(
            '.lm-Menu-item:not(.lm-mod-hidden):not([data-type="separator"])')].map(e => ({
                command: e.getAttribute('data-command') || '',
                label: e.querySelector('.lm-Menu-itemLabel')?.textContent.trim() ?? ''}))""")
        page.keyboard.press("Escape")
        assert items, f"the {title} menu is empty"
        blank = [it for it in items if not it["label"]]
        assert not blank, f"{title} menu: entries with no label {blank}"
        stale = [it for it in items if it["command"].startswith(DISABLED_COMMANDS)]
        assert not stale, f"{title} menu: entries of disabled nbgrader plugins {stale}"
    toolbar = page.evaluate("""() => [...document.querySelectorAll(
        '.jp-NotebookPanel-toolbar > .jp-Toolbar-item:not(.lm-mod-hidden):not(.jp-Toolbar-spacer)')]
        .map(e => ({name: e.getAttribute('data-jp-item-name'),
                    label: (e.textContent.trim() || e.querySelector('[title]')?.title
                            || e.querySelector('[aria-label]')?.getAttribute('aria-label') || '').trim()}))""")
    blank = [t for t in toolbar if not t["label"]]
    assert not blank, f"toolbar entries with no label or tooltip: {blank}"
    assert any(t["label"] == "Validate" for t in toolbar), toolbar


def test_validate_answers_with_nbgraders_dialog(page):
    page.locator(".jp-NotebookPanel-toolbar .jp-Toolbar-item", has_text="Validate").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".jp-Dialog-header", has_text="Validation Results").wait_for(timeout=240_000)
    body = dialog.locator(".jp-Dialog-body")
    text = body.inner_text()
    # the released chapter as it is: its stubs fail, and the dialog says which cell and why
    assert dialog.locator(".validation-failed").count() == 1, text[:2000]
    assert "The following cell failed:" in text and "NotImplementedError" in text, text[:2000]
    dialog.locator("button", has_text="Ok").click()
