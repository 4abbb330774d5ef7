"""The course site (`make site`), built without a network and read in a browser that may not
reach any other host.

The site is built once per test run by ``make site`` itself; where this process may make a
network namespace (root, or unprivileged user namespaces), inside one with only a loopback
interface (``unshare -n``), so the build is shown to need no network. It is then served on
127.0.0.1 and every page is opened in Debian's Chromium through Playwright with every request to
another host aborted and recorded: no page may ask for one. On every page every image loads and
every link inside the site resolves (to a file, and to an anchor that page has); on every chapter
page the maths is rendered by the site's own MathJax, with its numbered equations; and no line of
an instructor's answer or hidden test from ``solutions/`` appears anywhere in the site.
"""
from __future__ import annotations

import functools
import html
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import jupyter_browser

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "build" / "site"
CHAPTERS = sorted(p.relative_to(ROOT).with_suffix(".html").as_posix()
                  for p in (ROOT / "course").glob("*/*.ipynb"))
# each edition in another language is a site of its own at build/site/<lang>/, its chapters at the
# same page names as the English ones: zh-CN/course/01_se/se.html is course/zh-CN/01_se/se.ipynb
EDITION_CHAPTERS = {lang: sorted(f"{lang}/course/{p.relative_to(ROOT / 'course' / lang).with_suffix('.html').as_posix()}"
                                 for p in (ROOT / "course" / lang).glob("*/*.ipynb"))
                    for lang in ("zh-CN",)}
ALL_CHAPTERS = CHAPTERS + [c for pages in EDITION_CHAPTERS.values() for c in pages]


def _released(page: str) -> Path:
    """The released notebook a chapter page of the site is made from."""
    lang, _, rest = page.partition("/course/")
    if rest:
        return ROOT / "course" / lang / Path(rest).with_suffix(".ipynb")
    return ROOT / Path(page).with_suffix(".ipynb")
pytestmark = pytest.mark.slow

# brings up the loopback interface of a fresh network namespace (it starts down), so that
# Jupyter kernels, which talk to their client over 127.0.0.1, can run there; then runs argv
LOOPBACK_UP = """
import fcntl, os, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh", b"lo", 0)))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))
os.execvp(sys.argv[1], sys.argv[1:])
"""


def _offline_prefix() -> list[str]:
    """The command prefix that runs a command without a network, or [] where none can be made."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    prefix = [unshare, "-n"] if os.geteuid() == 0 else [unshare, "-r", "-n"]
    probe = subprocess.run([*prefix, sys.executable, "-c", LOOPBACK_UP, "true"],
                           capture_output=True, text=True)
    return [*prefix, sys.executable, "-c", LOOPBACK_UP] if probe.returncode == 0 else []


@pytest.fixture(scope="module")
def built_site():
    """`make site`, without a network where possible; its last line is the index's path."""
    prefix = _offline_prefix()
    if not prefix and os.environ.get("CI"):
        pytest.fail("CI runs as root and can make a network namespace; here unshare -n failed")
    env = jupyter_browser.env()
    proc = subprocess.run([*prefix, "make", "-s", "site"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    last = proc.stdout.strip().splitlines()[-1]
    assert last == str(SITE / "index.html"), proc.stdout[-2000:]
    assert Path(last).is_file()
    return {"offline": bool(prefix), "log": proc.stdout + proc.stderr}


@pytest.fixture(scope="module")
def server(built_site):
    """The built site on 127.0.0.1, a free port, for this module's tests."""
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _pages() -> list[str]:
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
                  if not p.relative_to(SITE).as_posix().startswith(("_static/", "_images/")))


def test_built_without_network(built_site):
    """The build ran in a network namespace with no interface but loopback (where one could be
    made: as root, as CI runs, always)."""
    if not built_site["offline"]:
        pytest.skip("no network namespace can be made here (not root, no user namespaces)")
    assert built_site["offline"]


def test_every_chapter_is_a_page_with_its_notebook(built_site):
    assert CHAPTERS, "no chapters in course/"
    assert EDITION_CHAPTERS["zh-CN"], "no chapters in course/zh-CN/"
    for chapter in ALL_CHAPTERS:
        page = SITE / chapter
        assert page.is_file(), chapter
        notebook = page.with_suffix(".ipynb")
        assert notebook.is_file(), f"{chapter}: the notebook to download is missing"
        released = _released(chapter)
        assert notebook.read_bytes() == released.read_bytes(), f"{chapter}: not the released notebook"
        assert f'href="{notebook.name}"' in page.read_text(), f"{chapter}: no download link"


def test_pages_name_no_other_host(built_site):
    """No script, stylesheet, font, image or frame in the built HTML and CSS comes from another
    host (links to read elsewhere, <a href>, are allowed)."""
    loads = re.compile(r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*?"
                       r"(?:src|href)\s*=\s*[\"']((?:https?:)?//[^\"']+)", re.I)
    css_url = re.compile(r"url\(\s*[\"']?((?:https?:)?//[^)\"']+)", re.I)
    found = []
    for path in SITE.rglob("*"):
        if path.suffix == ".html":
            found += [(path.name, u) for u in loads.findall(path.read_text(errors="replace"))]
        elif path.suffix == ".css":
            found += [(path.name, u) for u in css_url.findall(path.read_text(errors="replace"))]
    assert not found, found[:20]


def _solution_lines() -> dict[tuple[str, str], tuple[str, set[str]]]:
    """Per chapter, the lines of the instructor's answers and hidden tests that the released
    notebook does not contain anywhere (its own code and text are allowed on the site)."""
    out = {}
    for nb_path in sorted([*(ROOT / "solutions").glob("*/*.ipynb"),
                           *(ROOT / "solutions").glob("*/*/*.ipynb")]):
        released = (ROOT / "course" / nb_path.relative_to(ROOT / "solutions")).read_text()
        released_text = "\n".join("".join(c["source"]) for c in json.loads(released)["cells"])
        for cell in json.loads(nb_path.read_text())["cells"]:
            src = "".join(cell["source"])
            for kind, begin, end in (("solution", "### BEGIN SOLUTION", "### END SOLUTION"),
                                     ("hidden", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")):
                for block in re.findall(re.escape(begin) + r"(.*?)" + re.escape(end), src, re.S):
                    for line in block.splitlines():
                        line = line.strip()
                        if len(line) >= 12 and not line.startswith("#") and line not in released_text:
                            out.setdefault((nb_path.parent.name, kind), (kind, set()))[1].add(line)
    return out


def test_no_solution_code_on_the_site(built_site):
    """No line of an answer or hidden test (the distinctive ones: in solutions/, not in the
    released notebook) appears in any page's text, nor in the notebooks offered for download."""
    per_chapter = _solution_lines()
    assert sum(len(lines) for kind, lines in per_chapter.values() if kind == "solution") > 50, \
        "too few solution lines found to check"
    texts = {}
    for path in SITE.rglob("*"):
        if path.suffix in (".html", ".ipynb", ".txt", ".js") and "mathjax" not in path.parts:
            raw = path.read_text(errors="replace")
            texts[path.relative_to(SITE).as_posix()] = html.unescape(re.sub(r"<[^>]+>", "", raw))
    # an answer's lines nowhere; a hidden test's lines on no chapter page and in no notebook
    # (the instructor's pages may quote a hidden test's grade("se.squeeze", squeeze) call)
    leaks = [(page, line) for kind, lines in per_chapter.values() for line in lines
             for page, text in texts.items()
             if line in text and (kind == "solution" or "course/" in page)]
    assert not leaks, leaks[:10]


# --- in the browser --------------------------------------------------------------------------

MATH_JS = """async () => {
    if (!window.MathJax || !MathJax.Hub) return {loaded: false};
    await new Promise(r => MathJax.Hub.Queue(r));
    // Sphinx's maths (MathJax's own output has spans of class "math" too)
    const containers = [...document.querySelectorAll('span.math.notranslate, div.math.notranslate')];
    const unrendered = containers.filter(c => !c.querySelector('.MathJax, .MathJax_Display'));
    return {
        loaded: true,
        containers: containers.length,
        unrendered: unrendered.slice(0, 3).map(c => c.textContent.slice(0, 80)),
        errors: document.querySelectorAll('.MathJax_Error, merror, .MathJax merror').length,
        displays: [...document.querySelectorAll('.MathJax_Display')].map(d => d.textContent),
    };
}"""

PAGE_JS = """() => ({
    images: [...document.images].map(i => ({src: i.currentSrc || i.src,
                                            ok: i.complete && i.naturalWidth > 0})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    lang: document.documentElement.lang,
    switch: [...document.querySelectorAll('.language-switch a')].map(a => a.href),
})"""


@pytest.fixture(scope="module")
def crawl(server):
    """Every page of the site in Chromium, other hosts refused: per page what it loaded."""
    jupyter_browser.require_chromium()
    from playwright.sync_api import sync_playwright

    refused, failed, results = [], [], {}
    with sync_playwright() as p:
        browser = jupyter_browser.launch(p)
        try:
            context = browser.new_context()

            def route(r):
                host = urllib.parse.urlsplit(r.request.url).hostname
                if host == "127.0.0.1":
                    r.continue_()
                else:
                    refused.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            page = context.new_page()
            page.on("response", lambda resp: resp.status >= 400 and failed.append(
                (resp.status, resp.url)))
            for name in _pages():
                page.goto(f"{server}/{name}", wait_until="load")
                info = page.evaluate(PAGE_JS)
                if name in ALL_CHAPTERS:
                    info["math"] = page.evaluate(MATH_JS)
                results[name] = info
        finally:
            browser.close()
    return {"refused": refused, "failed": failed, "pages": results, "base": server}


def test_no_request_leaves_127_0_0_1(crawl):
    assert len(crawl["pages"]) >= len(ALL_CHAPTERS) + 10
    assert not crawl["refused"], crawl["refused"][:10]
    assert not crawl["failed"], crawl["failed"][:10]


def test_equations_render_on_every_chapter(crawl):
    for chapter in ALL_CHAPTERS:
        math = crawl["pages"][chapter]["math"]
        assert math["loaded"], f"{chapter}: MathJax did not load"
        assert math["containers"] > 5, f"{chapter}: {math['containers']} equations"
        assert not math["unrendered"], (chapter, math["unrendered"])
        assert math["errors"] == 0, chapter
        # every \tag{n} of the chapter's source shows its number "(n)" in a rendered display
        source = _released(chapter).read_text()
        tags = set(re.findall(r"\\\\tag\{(\w+)\}", source))
        shown = " ".join(math["displays"])
        missing = [t for t in sorted(tags) if f"({t})" not in shown]
        assert not missing, f"{chapter}: equation numbers not rendered: {missing}"


def test_every_image_loads(crawl):
    bad = [(name, img["src"]) for name, info in crawl["pages"].items()
           for img in info["images"] if not img["ok"]]
    assert not bad, bad[:10]
    for chapter in ALL_CHAPTERS:
        assert crawl["pages"][chapter]["images"], f"{chapter}: no figure"


def test_no_broken_link_inside_the_site(crawl):
    base = crawl["base"] + "/"
    broken = []
    for name, info in crawl["pages"].items():
        for href in info["links"]:
            if not href.startswith(base):
                continue
            target, _, fragment = href[len(base):].partition("#")
            target = urllib.parse.unquote(target.split("?")[0]) or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if not (SITE / target).is_file():
                broken.append((name, href))
            elif fragment and target in crawl["pages"] and \
                    urllib.parse.unquote(fragment) not in crawl["pages"][target]["ids"]:
                broken.append((name, href))
    assert not broken, broken[:20]


def test_landing_page_has_three_ways_in(crawl):
    links = crawl["pages"]["index.html"]["links"]
    for target in ("learn.html", "teach.html", "use.html", "use/api.html"):
        assert any(urllib.parse.urlsplit(l).path.endswith("/" + target) for l in links), target
    for chapter in CHAPTERS:
        assert any(urllib.parse.urlsplit(l).path.endswith("/" + chapter) for l in links), chapter
    # the Chinese front page: its learners' section and every chapter it has in Chinese
    links = crawl["pages"]["zh-CN/index.html"]["links"]
    assert any(urllib.parse.urlsplit(l).path.endswith("/zh-CN/learn.html") for l in links)
    for chapter in EDITION_CHAPTERS["zh-CN"]:
        assert any(urllib.parse.urlsplit(l).path.endswith("/" + chapter) for l in links), chapter


def test_every_page_links_its_other_language(crawl):
    """Each page of either language says its language (<html lang>) and links the same page in
    the other language where that has it (every chapter with an edition, and back), else the other
    language's front page; the link checker above sees that each target exists."""
    base = crawl["base"] + "/"
    pages = crawl["pages"]
    zh = {n for n in pages if n.startswith("zh-CN/")}
    assert len(zh) >= len(EDITION_CHAPTERS["zh-CN"]) + 5, sorted(zh)
    problems = []
    for name, info in pages.items():
        if name.removeprefix("zh-CN/") in ("search.html", "genindex.html", "py-modindex.html"):
            continue                                   # Sphinx's generated pages
        other = name.removeprefix("zh-CN/") if name in zh else "zh-CN/" + name
        want_lang = "zh-CN" if name in zh else "en"
        if info["lang"] != want_lang:
            problems.append(f"{name}: <html lang={info['lang']!r}>, not {want_lang!r}")
        targets = [h[len(base):] for h in info["switch"] if h.startswith(base)]
        if len(targets) != 1:
            problems.append(f"{name}: {len(targets)} links to the other language")
        elif other in pages and targets[0] != other:
            problems.append(f"{name}: links {targets[0]}, not its other language {other}")
        elif other not in pages and targets[0] != ("index.html" if name in zh else "zh-CN/index.html"):
            problems.append(f"{name}: links {targets[0]} for a page the other language lacks")
    assert not problems, problems[:20]
    for chapter in EDITION_CHAPTERS["zh-CN"]:
        english = chapter.removeprefix("zh-CN/")
        assert english in pages and pages[english]["switch"][0] == base + chapter, chapter


def test_search_and_a_phone_sized_screen(server):
    """The search page finds a chapter, and on a phone-sized screen the landing page, a section,
    the API reference and every chapter do not scroll sideways (wide code, tables and equations
    scroll inside their own boxes)."""
    jupyter_browser.require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = jupyter_browser.launch(p)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844},
                                          device_scale_factor=2, is_mobile=True, has_touch=True)
            context.route("**/*", lambda r: r.continue_()
                          if urllib.parse.urlsplit(r.request.url).hostname == "127.0.0.1"
                          else r.abort())
            page = context.new_page()
            page.goto(f"{server}/search.html?q=excitation", wait_until="load")
            page.wait_for_selector("#search-results ul.search li", timeout=30_000)
            hits = page.eval_on_selector_all("#search-results ul.search li a",
                                             "els => els.map(e => e.href)")
            assert any("01_se/se.html" in h for h in hits), hits[:10]
            # the Chinese site's search cuts Chinese text into words (jieba)
            page.goto(f"{server}/zh-CN/search.html?q=" + urllib.parse.quote("挤压"),
                      wait_until="load")
            page.wait_for_selector("#search-results ul.search li", timeout=30_000)
            hits = page.eval_on_selector_all("#search-results ul.search li a",
                                             "els => els.map(e => e.href)")
            assert any("zh-CN/course/01_se/se.html" in h for h in hits), hits[:10]
            for name in ("index.html", "learn.html", "use/api.html", *ALL_CHAPTERS,
                         "zh-CN/index.html", "zh-CN/learn/setup.html"):
                page.goto(f"{server}/{name}", wait_until="load")
                overflow = page.evaluate(PAGE_JS)["overflow"]
                assert overflow <= 1, f"{name} scrolls sideways by {overflow} px on a phone"
        finally:
            browser.close()
