"""A class on a real JupyterHub, as README's "A class on JupyterHub" sets it up, end to end.

As root, ``hub/setup.sh`` makes three real Unix accounts (an instructor and two learners), the
shared environment, nbgrader's exchange and the instructor's class folder; JupyterHub (PyPI) and
configurable-http-proxy (npm, hub/package-lock.json) then run on 127.0.0.1 with PAM log-in and
the default LocalProcessSpawner, each user's JupyterLab as that user. In Debian's Chromium each
learner logs in; learner 2 chooses 中文 under Settings → Language, and JupyterLab's menus are
then in Chinese. Each fetches chapter 1 from the *Assignments* list (learner 1 the English
edition, learner 2 the Chinese one: attn_grade.exchange), answers (learner 1 correctly, in the
words of the sample alice_einsum; learner 2 as zh_bob_max_pool, the Chinese twin of
bob_max_pool, with its catalogued mistake), validates and submits; the instructor collects, runs
``make autograde`` and releases feedback; each learner fetches its feedback and finds its own
score (the sample's expected points: for the twin, the English twin's) and, for the mistake, its
hint in the learner's language; the gradebook has one assignment with one notebook, and
formgrader lists both submissions. Then a learner's attempts to read or write what is not its
own are made with real system calls as that learner, and each must fail; grading again and
releasing feedback again must work.

Every shell command the instructor runs here is checked to appear word for word in the README's
recipe. Root only (accounts, PAM); in CI (CI=true) it must run, elsewhere it skips with the reason.
The shared environment (<class>/env) is kept between runs; a first run builds it (minutes).
"""
from __future__ import annotations

import csv
import html as htmllib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import jupyter_browser

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

CLASS = Path("/srv/attn-hub-test")
INSTRUCTOR = "attn-instructor"
LEARNERS = {"attn-learner1": "alice_einsum", "attn-learner2": "zh_bob_max_pool"}
# the learner's choice under Settings -> Language: the label's start, the menus then ("File", "Run")
LANGUAGE_MENU = {"zh-CN": ("Chinese (Simplified", ("文件", "运行"))}
CHAPTER, NOTEBOOK = "01_se", "se.ipynb"
PROXY = ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "the hub test needs root (it creates Unix accounts and runs JupyterHub with PAM)"
    if not PROXY.exists():
        return f"configurable-http-proxy is not installed ({PROXY}; `cd hub && npm ci`)"
    if not Path("/usr/bin/python3").exists():
        return "no system Python (/usr/bin/python3) to build the shared environment with"
    return None


@pytest.fixture(scope="module", autouse=True)
def _runnable():
    why = _why_not()
    if why:
        if os.environ.get("CI"):
            pytest.fail(why + " (.ci/run runs as root and installs it)")
        pytest.skip(why)
    jupyter_browser.require_chromium()


def recipe() -> str:
    """The README's section "A class on JupyterHub"."""
    text = (ROOT / "README.md").read_text()
    start = text.index("### A class on JupyterHub")
    end = text.index("\n#", start + 10)
    return text[start:end]


T0 = time.monotonic()


def phase(what: str) -> None:
    """A line of the test's progress with the seconds since it began (seen with pytest -s)."""
    print(f"[test_hub {time.monotonic() - T0:6.0f} s] {what}", flush=True)


def as_instructor(command: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """A command of the recipe, run by the instructor in the class folder; it must be in the README."""
    assert command in recipe(), f"the README's hub recipe does not say {command!r}"
    phase(f"instructor: {command}")
    proc = subprocess.run(["runuser", "-u", INSTRUCTOR, "--", "bash", "-c",
                           f"cd ~/attention-course && {command}"],
                          capture_output=True, text=True, timeout=timeout, cwd="/")
    assert proc.returncode == 0, f"{command}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    print(proc.stdout[-1500:])
    return proc


def as_learner(user: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", "bash", "-c", command],
                          capture_output=True, text=True, timeout=60, cwd="/")


def _home(user: str) -> Path:
    import pwd
    return Path(pwd.getpwnam(user).pw_dir)


def _free_ports() -> int:
    """A port p with p, p+1 and p+2 free (proxy, its API, the hub)."""
    for _ in range(50):
        p = jupyter_browser.free_port()
        try:
            for q in (p + 1, p + 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", q))
            return p
        except OSError:
            continue
    raise RuntimeError("no three free ports in a row")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The class hub, set up by the recipe's first step and running; yields (url, passwords)."""
    import pwd

    # a fresh class each run: accounts, homes and class folders of an earlier run go (the shared
    # environment is kept: it is rebuilt only when requirements.txt changes)
    for user in (INSTRUCTOR, *LEARNERS):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        subprocess.run(["userdel", "--remove", user], capture_output=True)
    for sub in ("exchange", "hub", "instructor"):
        shutil.rmtree(CLASS / sub, ignore_errors=True)
    setup = (f"CLASS={CLASS} INSTRUCTOR={INSTRUCTOR} LEARNERS=\"{' '.join(LEARNERS)}\" "
             "bash hub/setup.sh")
    assert "bash hub/setup.sh" in recipe()
    phase("hub/setup.sh")
    proc = subprocess.run(["bash", "-c", setup], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    passwords = {u: secrets.token_urlsafe(12) for u in (INSTRUCTOR, *LEARNERS)}
    subprocess.run(["chpasswd"], input="".join(f"{u}:{p}\n" for u, p in passwords.items()),
                   text=True, check=True)

    port = _free_ports()
    log = tmp_path_factory.mktemp("hub") / "jupyterhub.log"
    assert "jupyterhub -f hub/jupyterhub_config.py" in recipe()
    env = {**os.environ, "ATTN_HUB_CLASS": str(CLASS), "ATTN_HUB_PORT": str(port),
           "PATH": f"{CLASS}/env/bin:{os.environ['PATH']}"}
    with open(log, "w") as out:
        proc = subprocess.Popen([f"{CLASS}/env/bin/jupyterhub", "-f", "hub/jupyterhub_config.py"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    phase("jupyterhub starts")
    try:
        jupyter_browser.wait_until_up(proc, f"{url}/hub/api", log, "jupyterhub")
        yield url, passwords, log
    finally:
        proc.send_signal(signal.SIGTERM)         # the hub stops the proxy and every user's server
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _login(browser, url: str, user: str, password: str):
    """A browser context logged in as ``user``, on its JupyterLab once loaded."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.goto(f"{url}/hub/login")
    pg.fill("#username_input", user)
    pg.fill("#password_input", password)
    pg.click("#login_submit")
    pg.wait_for_url(re.compile(rf".*/user/{user}/lab.*"), timeout=240_000)
    pg.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    pg.wait_for_selector(".lm-MenuBar-itemLabel", timeout=60_000)
    return ctx, pg


API_JS = """async ([method, path, body]) => {
    const xsrf = document.cookie.split('; ').find(c => c.startsWith('_xsrf='));
    const headers = {'Content-Type': 'application/json'};
    if (xsrf) headers['X-XSRFToken'] = decodeURIComponent(xsrf.slice(6));
    const base = document.querySelector('#jupyter-config-data')
        ? JSON.parse(document.querySelector('#jupyter-config-data').textContent).baseUrl : '/';
    const r = await fetch(base + path, {method, headers, body: body ? JSON.stringify(body) : undefined});
    return {status: r.status, text: await r.text()};
}"""


def _api(pg, method: str, path: str, body=None):
    """The learner's own Jupyter server's REST API, from its page (its cookies, as JupyterLab)."""
    r = pg.evaluate(API_JS, [method, path, body])
    assert r["status"] < 300, f"{method} {path}: {r['status']} {r['text'][:500]}"
    return json.loads(r["text"]) if r["text"] else None


def _open_assignments(pg):
    """Assignments -> Assignment List, where a learner looks for it."""
    pg.click(".lm-MenuBar-itemLabel:text-is('Assignments')")
    pg.click(".lm-Menu-itemLabel:text-is('Assignment List')")
    pg.wait_for_selector("#nbgrader-assignment-list, .nbgrader-mainarea-widget", timeout=60_000)


def _spec(sample: str) -> dict:
    """The sample learner as the grader's own tests expect it (a twin: its English twin's
    answers, scores and mistakes)."""
    from attn_grade.pipeline import expected_samples
    return expected_samples()[sample]


def _edition(sample: str) -> str:
    return _spec(sample).get("edition", "en")


def _answers(sample: str) -> dict[str, str]:
    from attn_grade.pipeline import parse_cells
    twin = _spec(sample).get("twin", sample)
    return parse_cells(ROOT / "autograde" / "samples" / twin / f"{CHAPTER}.py")


def _expected(sample: str) -> tuple[float, list[str]]:
    spec = _spec(sample)
    return (sum(spec["scores"][CHAPTER].values()),
            [m for ms in spec.get("mistakes", {}).get(CHAPTER, {}).values() for m in ms])


def choose_language(pg, lang: str) -> list[str]:
    """Settings -> Language -> ``lang``, as a learner chooses it once (JupyterLab keeps it in the
    learner's own settings and reloads); the menu bar's labels afterwards."""
    label, menus = LANGUAGE_MENU[lang]
    pg.click(".lm-MenuBar-itemLabel:text-is('Settings')")
    pg.click(".lm-Menu-itemLabel:text-is('Language')")
    pg.locator(".lm-Menu-itemLabel", has_text=label).first.click()
    pg.locator(".jp-Dialog button.jp-mod-accept").click()      # "Change and reload"
    pg.wait_for_selector(f".lm-MenuBar-itemLabel:text-is('{menus[0]}')", timeout=120_000)
    pg.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    return pg.locator(".lm-MenuBar-item").all_inner_texts()


def _hints(mistakes: list[str]) -> list[str]:
    """The hints the chapter's checks give for these named mistakes."""
    from attn_ref.grading.registry import all_checks
    return [m.hint for c in all_checks("se").values() for m in c.mistakes()
            if m.name in mistakes]


def learner_hands_in(pg, sample):
    """In the learner's JupyterLab: fetch, answer, Validate, Submit; the Validate dialog's text.
    The notebook fetched must be the edition of the learner's language."""
    _open_assignments(pg)
    released = pg.locator("#released_assignments_list .list_item", has_text=CHAPTER)
    released.locator("button:text-is('Fetch')").click(timeout=120_000)
    fetched = pg.locator("#fetched_assignments_list .list_item", has_text=CHAPTER).first
    fetched.wait_for(timeout=120_000)
    # the learner's answers, written into its own copy through its own server
    model = _api(pg, "GET", f"api/contents/{CHAPTER}/{NOTEBOOK}?content=1")
    from attn_ref.i18n import notebook_language
    assert notebook_language(model["content"]) == _edition(sample), sample
    from attn_grade.editions import release_path
    released = release_path(_home(INSTRUCTOR) / "attention-course" / "course", CHAPTER, NOTEBOOK,
                            _edition(sample))          # what `make release` wrote in the class
    [first, *_] = [c["source"] for c in json.loads(released.read_text())["cells"]
                   if c["cell_type"] == "markdown"]
    [mine, *_] = [c["source"] for c in model["content"]["cells"] if c["cell_type"] == "markdown"]
    assert mine == "".join(first), sample
    answers = _answers(sample)
    for cell in model["content"]["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell["source"] = answers[gid]
    _api(pg, "PUT", f"api/contents/{CHAPTER}/{NOTEBOOK}",
         {"type": "notebook", "format": "json", "content": model["content"]})
    # Validate, from the list (nbgrader runs the notebook and shows its verdict)
    fetched.locator(".assignment-notebooks-link").click()
    validate = pg.locator("#fetched_assignments_list button:text-is('Validate')").first
    validate.click(timeout=60_000)
    dialog = pg.locator(".jp-Dialog")
    dialog.wait_for(timeout=600_000)
    verdict = dialog.inner_text()
    dialog.locator("button.jp-mod-accept").first.click()    # OK (确定 in Chinese)
    pg.locator("#fetched_assignments_list button:text-is('Submit')").first.click()
    pg.locator("#submitted_assignments_list .list_item", has_text=CHAPTER).first.wait_for(
        timeout=120_000)
    return verdict


def learner_reads_feedback(pg):
    """In the learner's JupyterLab, afresh: Fetch Feedback; the feedback's HTML."""
    pg.reload()
    pg.wait_for_selector(".lm-MenuBar-itemLabel", timeout=120_000)
    _open_assignments(pg)
    listing = None
    for _ in range(3):          # a press while the list is still being redrawn can be lost
        pg.locator("#submitted_assignments_list .list_item", has_text=CHAPTER).first.wait_for(
            timeout=120_000)
        pg.locator("#submitted_assignments_list button:text-is('Fetch Feedback')").first.click(
            timeout=120_000)
        for _ in range(60):
            r = pg.evaluate(API_JS, ["GET", f"api/contents/{CHAPTER}/feedback?content=1", None])
            if r["status"] == 200 and json.loads(r["text"])["content"]:
                listing = json.loads(r["text"])
                break
            pg.wait_for_timeout(1000)
        if listing:
            break
    assert listing, "the feedback never arrived in the learner's home"
    stamp = sorted(x["name"] for x in listing["content"] if x["type"] == "directory")[-1]
    html = _api(pg, "GET", f"api/contents/{CHAPTER}/feedback/{stamp}/se.html?content=1"
                "&format=text&type=file")["content"]
    return html


def _hints_shown(html: str, sample: str) -> None:
    """The feedback gives a hint of each of the sample's mistakes in the learner's language (the
    catalogue's translation) and never in the other."""
    from attn_ref.i18n import tr

    lang, page = _edition(sample), htmllib.unescape(html)
    for name in _expected(sample)[1]:
        hints = _hints([name])
        assert hints, f"no check knows a mistake {name!r}"
        mine = [tr(h, lang) for h in hints]
        assert any(h in page for h in mine), f"{sample}: no {lang} hint of {name!r}"
        if lang != "en":
            assert all(m != h for m, h in zip(mine, hints)), f"{name!r}: hint not translated"
            assert not any(h in page for h in hints), f"{sample}: English hint of {name!r}"


def _score(html: str) -> float:
    m = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", re.sub(r"<[^>]+>", " ", html))
    assert m, "no score in the feedback"
    return float(m.group(1))


def test_class_on_the_hub(hub):
    from playwright.sync_api import sync_playwright

    url, passwords, log = hub
    course = _home(INSTRUCTOR) / "attention-course"
    as_instructor("make release")
    as_instructor(f".venv/bin/nbgrader release_assignment {CHAPTER}")

    with sync_playwright() as p:
        browser = jupyter_browser.launch(p)
        verdicts, pages = {}, {}
        for user, sample in LEARNERS.items():
            phase(f"{user} logs in")
            pages[user] = _login(browser, url, user, passwords[user])
            if _edition(sample) != "en":
                phase(f"{user} chooses {_edition(sample)} under Settings -> Language")
                menus = choose_language(pages[user][1], _edition(sample))
                assert all(m in menus for m in LANGUAGE_MENU[_edition(sample)][1]), menus
                assert "File" not in menus, menus
            phase(f"{user} fetches, answers, validates, submits")
            verdicts[user] = learner_hands_in(pages[user][1], sample)
        # learner 1 answered correctly, learner 2's visible tests catch its mistake
        assert "Success" in verdicts["attn-learner1"] or "passed" in verdicts["attn-learner1"], \
            verdicts["attn-learner1"]
        assert "failed" in verdicts["attn-learner2"].lower() or \
            "error" in verdicts["attn-learner2"].lower(), verdicts["attn-learner2"]

        as_instructor(f".venv/bin/nbgrader collect {CHAPTER}")
        for user in LEARNERS:
            assert (course / "autograde" / "submitted" / user / CHAPTER / NOTEBOOK).is_file()
        as_instructor("make autograde")
        as_instructor(f".venv/bin/nbgrader release_feedback {CHAPTER}")

        for user, sample in LEARNERS.items():
            phase(f"{user} fetches its feedback")
            html = learner_reads_feedback(pages[user][1])
            assert _score(html) == _expected(sample)[0], user
            _hints_shown(html, sample)

        # formgrader, in the instructor's JupyterLab
        phase("the instructor's formgrader")
        ctx, pg = _login(browser, url, INSTRUCTOR, passwords[INSTRUCTOR])
        pg.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
        assert pg.locator(".lm-Menu-itemLabel:text-is('Formgrader')").is_visible()
        pg.keyboard.press("Escape")
        pg.goto(f"{url}/user/{INSTRUCTOR}/formgrader/manage_submissions/{CHAPTER}")
        for user in LEARNERS:
            pg.locator("td", has_text=user).first.wait_for(timeout=60_000)
        ctx.close()

        # a learner cannot reach another's server through the hub
        pg = pages["attn-learner1"][1]
        r = pg.goto(f"{url}/user/attn-learner2/api/contents/{CHAPTER}")
        assert r.status != 200 or NOTEBOOK not in pg.content()
        for ctx, _ in pages.values():
            ctx.close()
        browser.close()

    # grades.csv: one row per learner, for the released chapter only, no note of nbgrader's files
    with open(course / "autograde" / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["student_id"], r["assignment"]) for r in rows) == \
        sorted((u, CHAPTER) for u in LEARNERS)
    for r in rows:
        assert "submission_secret" not in r["notes"], r
        assert float(r["score"]) == _expected(LEARNERS[r["student_id"]])[0]
    # the gradebook: one assignment per chapter (no edition's), one notebook, whichever edition
    # each learner worked
    from nbgrader.api import Gradebook
    chapters = sorted({p.parent.name for p in (course / "solutions").glob("*/*.ipynb")})
    with Gradebook(f"sqlite:///{course}/autograde/gradebook.db") as gb:
        assert sorted(a.name for a in gb.assignments) == chapters
        assert [n.name for n in gb.find_assignment(CHAPTER).notebooks] == [Path(NOTEBOOK).stem]
        for user, sample in LEARNERS.items():
            assert gb.find_submission(CHAPTER, user).score == _expected(sample)[0], user

    phase("privacy")
    # privacy: every attempt of learner 1 on what is not its own fails
    me, other = "attn-learner1", "attn-learner2"
    mine = as_learner(me, f"cat ~/{CHAPTER}/{NOTEBOOK} >/dev/null && python3 -c 'import sys'")
    assert mine.returncode == 0, mine.stderr
    env_python = f"{CLASS}/env/bin/python"
    kernel = as_learner(me, f"{env_python} -c 'import attn_ref, attn_ref.grading'")
    assert kernel.returncode == 0, kernel.stderr          # the learners' kernels import attn_ref
    submitted = course / "autograde" / "submitted" / other / CHAPTER
    attempts = {
        "the instructor's sources": f"cat {course}/solutions/{CHAPTER}/{NOTEBOOK}",
        "the chapters not yet released": f"ls {course}/course",
        "the gradebook": f"{env_python} -c \"open('{course}/autograde/gradebook.db', 'rb')\"",
        "grades.csv": f"cat {course}/autograde/grades.csv",
        "a collected submission": f"cat {submitted}/{NOTEBOOK}",
        "writing into a collected submission": f"touch {submitted}/extra.py",
        "deleting a collected submission": f"rm -f {submitted}/{NOTEBOOK}",
        "another learner's home": f"ls {_home(other)}",
        "another learner's notebook": f"cat {_home(other)}/{CHAPTER}/{NOTEBOOK}",
        "another learner's feedback": f"ls {_home(other)}/{CHAPTER}/feedback",
        "the exchange's inbound": f"ls {CLASS}/exchange/attention-course/inbound",
        "the exchange's feedback": f"ls {CLASS}/exchange/attention-course/feedback",
        "writing a release": f"touch {CLASS}/exchange/attention-course/outbound/{CHAPTER}/x",
        "writing an edition's release":
            f"touch {CLASS}/exchange/attention-course/editions/zh-CN/{CHAPTER}/x",
        "writing the shared environment": f"touch {CLASS}/env/bin/x",
        "the instructor's settings": f"cat {CLASS}/instructor/nbgrader_config.py",
        "the hub's state": f"ls {CLASS}/hub",
    }
    for what, command in attempts.items():
        proc = as_learner(me, command)
        assert proc.returncode != 0 and "ermission denied" in proc.stderr + proc.stdout, \
            f"{me} reached {what}: {command}\n{proc.stdout[:300]}{proc.stderr[:300]}"
    assert (submitted / NOTEBOOK).is_file()

    # grading again, then releasing feedback again
    as_instructor("make autograde")
    as_instructor(f".venv/bin/nbgrader release_feedback {CHAPTER}")
