"""Build hooks: a wheel carries the checkout's workflow/, config/, envs/ and profiles/ as fastdiff/_workflow, so that
any install runs the workflow (fastdiff.run.runner.WORKFLOW_ROOT; an editable install runs the checkout's own), and
the C kernels are compiled (fastdiff.thumbnails.native; its callers fall back to OpenCV where the compiler is missing
or fails: the extension is optional)."""

import os
import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

WORKFLOW_FOLDERS = ("workflow", "config", "envs", "profiles")


class BuildWithWorkflow(build_py):
    """build_py, then the workflow folders copied into the built package (not in editable mode)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        here = Path(__file__).resolve().parent
        bundle = Path(self.build_lib) / "fastdiff" / "_workflow"
        for folder in WORKFLOW_FOLDERS:
            shutil.copytree(
                here / folder,
                bundle / folder,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )


KERNELS = Extension(
    "fastdiff.thumbnails._kernels",  # loaded with ctypes (fastdiff.thumbnails.native), not imported
    sources=[f"fastdiff/thumbnails/{name}.c" for name in ("area_kernel", "composite_kernel", "kernels_version")],
    # one rounding per product and per sum, as OpenCV computes INTER_AREA: no fused multiply-add
    extra_compile_args=["-O3", "-ffp-contract=off"],
    libraries=["m"] if os.name == "posix" else [],
    optional=True,
)

setup(cmdclass={"build_py": BuildWithWorkflow}, ext_modules=[KERNELS])
