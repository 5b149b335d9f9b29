"""The wheel carries, besides the ``zoo`` package, the plugins that ship with zoo and its catalogue — ``plugins/``
and ``registry.yaml``, which stay at the top of the checkout — copied into ``zoo/_shipped/``, so that a
non-editable install (``pip install .``, a wheel, ``pipx install``) has its models. Everything else is in
pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithCatalogue(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads them from the checkout itself
            return
        shipped = Path(self.build_lib) / "zoo" / "_shipped"
        skip = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / "plugins", shipped / "plugins", ignore=skip, dirs_exist_ok=True)
        shutil.copy2(ROOT / "registry.yaml", shipped / "registry.yaml")


setup(cmdclass={"build_py": BuildWithCatalogue})
