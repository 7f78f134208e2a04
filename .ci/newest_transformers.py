"""Install the newest transformers release the package index serves into this venv, and say which it is.

A plain `pip install` backtracks to an older release when one requirement of the newest cannot be met from the index
(transformers 5.25.0 needs `kernels>=0.19.1`; an index may serve older ones only), and the run would then test a
release nobody asked for. Here the newest release is installed whatever happens: with its requirements if they
resolve, else without them, naming those the index could not meet, so the test run shows whether the package needs
them.
"""

import importlib.metadata
import re
import subprocess
import sys

from packaging.requirements import Requirement


def pip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *arguments], capture_output=True, text=True, check=check)


def newest_release() -> str:
    listing = pip("index", "versions", "transformers").stdout
    match = re.search(r"^transformers \(([^)]+)\)", listing, re.MULTILINE)
    if match is None:
        sys.exit(f"could not read the newest transformers release from `pip index versions`:\n{listing}")
    return match.group(1)


def install_requirements_that_resolve() -> list[str]:
    """The runtime requirements of the installed transformers that the index cannot meet (after trying each)."""
    unmet = []
    for line in importlib.metadata.requires("transformers") or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra's requirement, or another platform's
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed is not None and requirement.specifier.contains(installed, prereleases=True):
            continue
        if pip("install", "--quiet", str(requirement), check=False).returncode != 0:
            unmet.append(f"{requirement} (installed: {installed or 'none'})")
    return unmet


def main() -> None:
    version = newest_release()
    print(f"newest transformers release on the index: {version}")
    if pip("install", "--quiet", f"transformers=={version}", check=False).returncode != 0:
        pip("install", "--quiet", "--no-deps", f"transformers=={version}")
        importlib.invalidate_caches()
        unmet = install_requirements_that_resolve()
        if unmet:
            print(f"transformers {version} is installed without these requirements, which the index cannot meet: "
                  + "; ".join(unmet), flush=True)
    importlib.invalidate_caches()
    installed = subprocess.run([sys.executable, "-c", "import transformers; print(transformers.__version__)"],
                               capture_output=True, text=True, check=True).stdout.strip()
    if installed != version:
        sys.exit(f"transformers {installed} is installed, not the newest release {version}")
    print(f"testing on transformers {installed}")


if __name__ == "__main__":
    main()
