# attention-course: `make demo` and `make test` are the quick start (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export MPLBACKEND := Agg
PIPELINE := $(BIN)/attn-grade

.PHONY: venv pair demo release check-release samples autograde lab test test-fast bench bench-grading clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:assignment-list >/dev/null 2>&1 || true
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:course-list >/dev/null 2>&1 || true
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:formgrader >/dev/null 2>&1 || true
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:create-assignment >/dev/null 2>&1 || true
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:menu >/dev/null 2>&1 || true
	@# jupytext serves `make pair` from the command line; its JupyterLab menus stay off, so that
	@# `make lab` shows the learners what it did before
	$(BIN)/jupyter labextension disable --level=sys_prefix jupyterlab-jupytext >/dev/null 2>&1 || true
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

## lab: JupyterLab on the learner notebooks, with nbgrader's validate button and locked cells
## marked (lab/jupyter_lab_config.py, lab/custom/custom.css; tests/test_lab.py starts it the same way).
## COURSE_LANG=zh-CN: the Chinese edition (course/zh-CN/), with JupyterLab and the tests' messages
## in Chinese (README: "Choosing the language")
COURSE_LANG ?= en
lab: export ATTN_COURSE_LANG := $(COURSE_LANG)
lab: venv
	@case "$(COURSE_LANG)" in en|zh-CN) ;; *) echo "COURSE_LANG=$(COURSE_LANG): the course has the editions en and zh-CN" >&2; exit 2;; esac
	@# the Nbgrader menu only lists the disabled plugins' commands (five blank entries): off
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:menu >/dev/null 2>&1 || true
	$(BIN)/jupyter lab --config=lab/jupyter_lab_config.py --notebook-dir=course$(if $(filter-out en,$(COURSE_LANG)),/$(COURSE_LANG))

## test: unit tests, notebooks (nbval), release drift, sample autograding
test: venv
	$(BIN)/python -m pytest -p no:cacheprovider --nbval-lax tests solutions

test-fast: venv
	$(BIN)/python -m pytest -p no:cacheprovider -m "not slow" tests

## bench: module speed as multiples of a memory copy, beside the baselines and timm (not part of the tests)
bench: venv
	@# timm without its dependencies: it needs torchvision, which does not import beside our torch
	$(BIN)/python -m pip install --quiet --no-deps -r bench/requirements.txt
	$(BIN)/python bench/bench_modules.py --timm

## bench-grading: stock nbgrader vs our grading, and 1 vs 2 workers (seconds per submission)
bench-grading: venv
	$(BIN)/python bench/bench_grading.py

clean:
	rm -rf autograde/submitted autograde/autograded autograde/feedback autograde/gradebook.db \
	       autograde/grades.csv autograde/report.txt autograde/.release-cache \
	       autograde/report.html autograde/report autograde/grading.json autograde/grades_steps.csv
