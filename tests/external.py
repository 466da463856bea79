"""The real outside parts some tests need, installed on first use: npm packages into .tools/ (pinned by the
package-lock.json beside their package.json), Debian packages with apt-get. A part that cannot be installed
fails the test that needs it, with the reason: nothing is skipped."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
_apt_updated = False


def npm_project(source: Path, name: str) -> Path:
    """``source``'s package.json and package-lock.json installed (``npm ci``) under .tools/<name>."""
    target = TOOLS / name
    target.mkdir(parents=True, exist_ok=True)
    lock = (source / "package-lock.json").read_text()
    stamp = target / ".installed-lock"
    if not (target / "node_modules").is_dir() or not stamp.exists() or stamp.read_text() != lock:
        for file in ("package.json", "package-lock.json"):
            shutil.copyfile(source / file, target / file)
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(f"npm is not on PATH: it installs {name} for the tests")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target,
                              capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"npm ci for {name} failed ({done.returncode}): {done.stderr[-2000:]}")
        stamp.write_text(lock)
    for file in source.iterdir():
        if file.suffix in (".mjs", ".js", ".html"):
            shutil.copyfile(file, target / file.name)
    return target


def apt_binary(binary: str, package: str) -> str:
    """The path of ``binary``, installing Debian's ``package`` when it is missing."""
    global _apt_updated
    found = shutil.which(binary) or next((p for p in (f"/usr/bin/{binary}", f"/usr/sbin/{binary}")
                                          if Path(p).exists()), None)  # fmt: skip
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{binary} is missing and there is no apt-get to install {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=300, check=False)
        _apt_updated = True
    done = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", package], env=env,
                          capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    found = shutil.which(binary) or (f"/usr/bin/{binary}" if Path(f"/usr/bin/{binary}").exists() else None)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"apt-get install {package} failed ({done.returncode}): {done.stderr[-2000:]}")
    return found
