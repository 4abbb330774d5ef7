# attention-course: `make demo` and `make test` are the quick start (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export MPLBACKEND := Agg
PIPELINE := $(BIN)/attn-grade

.PHONY: venv pair demo release check-release samples autograde lab hub site test test-fast bench bench-grading clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@# on a class hub the class folder's .venv is the shared environment, root's to update
	@if [ -e $(VENV) ] && [ ! -w $(VENV)/ ]; then echo "$(VENV) is not yours to update (on a" \
	  "class hub it is the shared environment): as root, run hub/setup.sh again" >&2; exit 1; fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## pair: sync each instructor notebook solutions/<a>/<n>.ipynb with its text form
## solutions_py/<a>/<n>.py (jupytext.toml), both ways: the more recently edited one wins, as in
## `jupytext --sync` (tests/test_pairing.py checks that the two agree)
pair: venv
	$(BIN)/jupytext --sync $(sort $(wildcard solutions/*/*.ipynb) $(wildcard solutions_py/*/*.py) \
		$(wildcard solutions/*/*/*.ipynb) $(wildcard solutions_py/*/*/*.py))

## release: regenerate course/ from solutions/ with nbgrader (after `make pair`, so that edits to
## either form of a chapter are released)
release: venv pair
	$(PIPELINE) release

check-release: venv
	$(PIPELINE) check-release

## samples: copy the bundled sample submissions into autograde/submitted/
samples: venv
	$(PIPELINE) samples

## autograde: grade everything in autograde/submitted/ (grades.csv, feedback/, a table)
autograde: venv
	$(PIPELINE) autograde

## demo: set-up, release, sample submissions, autograde, grade table
demo: export ATTN_CELL_TIMEOUT ?= 30
demo: venv
	$(PIPELINE) reset-demo
	$(PIPELINE) release
	$(PIPELINE) samples
	$(PIPELINE) autograde

## lab: JupyterLab on the learner's own folder $(WORK) (gitignored), filled from course/ (or the
## edition COURSE_LANG names) and updated without writing over their work (attn_grade.workfolder),
## with nbgrader's validate button and locked cells marked, and nbgrader's exchange parts left out
## of its page (lab/jupyter_lab_config.py, lab/custom/custom.css; tests/test_lab.py starts it the
## same way). COURSE_LANG=zh-CN: the Chinese edition (course/zh-CN/, into work-zh-CN/), with
## JupyterLab and the tests' messages in Chinese (README: "Choosing the language")
COURSE_LANG ?= en
EDITION := $(if $(filter-out en,$(COURSE_LANG)),/$(COURSE_LANG))
WORK ?= work$(if $(EDITION),-$(COURSE_LANG))
lab: export ATTN_COURSE_LANG := $(COURSE_LANG)
lab: venv
	@case "$(COURSE_LANG)" in en|zh-CN) ;; *) echo "COURSE_LANG=$(COURSE_LANG): the course has the editions en and zh-CN" >&2; exit 2;; esac
	$(BIN)/python -m attn_grade.workfolder --course course$(EDITION) $(WORK)
	$(BIN)/jupyter lab --config=lab/jupyter_lab_config.py --notebook-dir=$(WORK)

## hub: a class hub on this machine to try (as root): hub/setup.sh with accounts instructor,
## learner1 and learner2 (new passwords printed), then JupyterHub on http://127.0.0.1:8000
## (README, "A class on JupyterHub"; a real server: the recipe there)
HUB_CLASS ?= /srv/attention-course
hub:
	@if [ "$$(id -u)" != 0 ]; then echo "make hub must run as root (sudo make hub): it creates" \
	  "Unix accounts and runs JupyterHub, whose PAM log-in and spawner need root" >&2; exit 1; fi
	@command -v npm >/dev/null || { echo "make hub needs node and npm (Debian: apt-get install npm)" >&2; exit 1; }
	cd hub && npm ci --no-audit --no-fund --loglevel=error
	CLASS=$(HUB_CLASS) NEW_PASSWORDS=1 bash hub/setup.sh
	@echo "class hub: http://127.0.0.1:8000 (Ctrl-C stops it)"
	ATTN_HUB_CLASS=$(HUB_CLASS) $(HUB_CLASS)/env/bin/jupyterhub -f hub/jupyterhub_config.py

## site: the course as a static site in build/site/ (site/conf.py): the released notebooks of
## course/ executed (cached in build/.jupyter_cache), the pages of site/, attn_ref's API; no network
## at build time or in the pages. Each edition in another language (site/<lang>/ and
## course/<lang>/) is built the same way into build/site/<lang>/, its pages at the same names, each
## page linking its other language. Ends with the path of its index.html
SITE_EDITIONS := zh-CN
site: venv
	rm -rf build/site-src $(addprefix build/site-src-,$(SITE_EDITIONS)) && mkdir -p build/site-src
	@# a fresh copy of the pages and of the released notebooks (conf.py stays in site/, -c)
	cp -R site/. build/site-src/ && rm -r build/site-src/conf.py $(addprefix build/site-src/,$(SITE_EDITIONS))
	for nb in course/*/*.ipynb; do mkdir -p build/site-src/$$(dirname $$nb) && cp $$nb build/site-src/$$nb; done
	$(BIN)/sphinx-build -q -j auto -c site -b html build/site-src build/site
	@# each edition: its pages and its release, laid out as course/<a>/<n>.ipynb
	for lang in $(SITE_EDITIONS); do \
	  src=build/site-src-$$lang && mkdir -p $$src && cp -R site/$$lang/. $$src/ && \
	  for nb in course/$$lang/*/*.ipynb; do rel=$${nb#course/$$lang/}; \
	    mkdir -p $$src/course/$$(dirname $$rel) && cp $$nb $$src/course/$$rel; done && \
	  SITE_LANG=$$lang $(BIN)/sphinx-build -q -j auto -c site -b html $$src build/site/$$lang || exit 1; \
	done
	@echo "$(abspath build/site/index.html)"

## test: unit tests, notebooks (nbval), release drift, sample autograding
test: venv
	$(BIN)/python -m pytest -p no:cacheprovider --durations=25 --nbval-lax tests solutions

test-fast: venv
	$(BIN)/python -m pytest -p no:cacheprovider -m "not slow" tests

## bench: module speed as multiples of a memory copy, beside the baselines, timm and onnxruntime
## (not part of the tests)
bench: venv
	@# timm without its dependencies: it needs torchvision, which does not import beside our torch
	$(BIN)/python -m pip install --quiet --no-deps -r bench/requirements.txt
	$(BIN)/python bench/bench_modules.py --timm --onnxruntime

## bench-grading: stock nbgrader vs our grading, and 1 vs 2 workers (seconds per submission)
bench-grading: venv
	$(BIN)/python bench/bench_grading.py

clean:
	rm -rf autograde/submitted autograde/autograded autograde/feedback autograde/gradebook.db \
	       autograde/grades.csv autograde/report.txt autograde/.release-cache \
	       autograde/report.html autograde/report autograde/grading.json autograde/grades_steps.csv
