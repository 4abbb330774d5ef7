"""Build hook of the practitioner distribution (pyproject.toml beside this file): the modules of
the attn_ref package that only the course's chapters and grading use stay out of the wheel.
``attn_ref.grading`` is a sub-package, left out by pyproject.toml's ``packages``; the plain
modules below are left out here (setuptools has no setting for single modules of a package)."""
from setuptools import setup
from setuptools.command.build_py import build_py

# attn_ref's course-only modules: plots (matplotlib figures of the chapters), data (the chapters'
# synthetic data sets), profiling (chapter 06's helpers and its saved profile in assets/)
COURSE_ONLY = {"plots", "data", "profiling"}


class BuildPy(build_py):
    def find_package_modules(self, package, package_dir):
        return [(pkg, mod, path) for pkg, mod, path in
                super().find_package_modules(package, package_dir)
                if not (pkg == "attn_ref" and mod in COURSE_ONLY)]


setup(cmdclass={"build_py": BuildPy})
