"""The Chinese edition in a real JupyterLab, started as ``make lab COURSE_LANG=zh-CN`` starts it
(``ATTN_COURSE_LANG=zh-CN``, ``lab/jupyter_lab_config.py``), in headless Chromium: JupyterLab's own
menus are in Chinese (its zh-CN language pack, the default locale from lab/settings/zh-CN), the
chapter's prose is the Chinese edition's, and Run All ends with the summary in Chinese."""
import json
import time
import urllib.request
from pathlib import Path

import pytest

import jupyter_browser

ROOT = Path(__file__).resolve().parent.parent
CHAPTER, NOTEBOOK = "01_se", "se.ipynb"
pytestmark = pytest.mark.slow

PROMPTS = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim())"""


def _idle(base) -> bool:
    with urllib.request.urlopen(f"{base}/api/sessions", timeout=10) as r:
        return any(s["path"].endswith(NOTEBOOK)
                   and (s.get("kernel") or {}).get("execution_state") == "idle"
                   for s in json.load(r))


def test_the_chinese_edition_in_jupyterlab(tmp_path):
    jupyter_browser.require_chromium()
    if not (ROOT / "course" / "zh-CN" / CHAPTER).exists():
        pytest.skip("no Chinese edition of 01_se")
    from playwright.sync_api import sync_playwright

    with jupyter_browser.make_lab(ROOT / "course" / "zh-CN" / CHAPTER, tmp_path,
                                  ATTN_COURSE_LANG="zh-CN") as base, sync_playwright() as p:
        browser = jupyter_browser.launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/lab/tree/{CHAPTER}/{NOTEBOOK}")
        page.locator(".jp-Notebook .jp-MarkdownCell").first.wait_for(timeout=120_000)
        menus = page.locator(".lm-MenuBar-item").all_inner_texts()
        assert "文件" in menus and "运行" in menus, menus           # File, Run
        assert "挤压与激励" in page.locator(".jp-Notebook .jp-MarkdownCell").first.inner_text()
        for _ in range(240):
            if _idle(base):
                break
            time.sleep(0.5)
        page.locator(".lm-MenuBar-item", has_text="运行").first.click()
        page.locator('.lm-Menu [data-command="runmenu:run-all"]').first.click()
        deadline = time.time() + 180
        while time.time() < deadline:
            prompts = page.evaluate(PROMPTS)
            if prompts and all(q[1:-2].isdigit() for q in prompts) and _idle(base):
                break
            time.sleep(0.5)
        else:
            page.screenshot(path=str(tmp_path / "run-all.png"))
            pytest.fail(f"Run All did not finish: {page.evaluate(PROMPTS)}")
        summary = page.locator(".jp-Notebook .jp-CodeCell .jp-OutputArea").last.inner_text()
        browser.close()
    assert "计分步骤" in summary and "失败（NotImplementedError）" in summary, summary
    assert "Graded steps" not in summary
