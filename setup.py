"""Package discovery only (metadata lives in pyproject.toml).

search/ and kernels/ sit at the top level, as the project layout asks, and install as
skmobile.search and skmobile.kernels; everything under skmobile/ is found automatically.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["skmobile", "skmobile.*"])
for folder in ("search", "kernels"):
    packages += [f"skmobile.{p}" for p in find_packages(include=[folder, f"{folder}.*"])]

setup(packages=packages)
