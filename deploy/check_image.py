#!/usr/bin/env python3
"""Build the container image and check that what we ship starts and behaves, against a real Docker engine.

    python deploy/check_image.py            # what `python3 tasks.py test` runs last

1. The engine: the one DOCKER_HOST (or the default socket) points at, if it answers; else Debian's docker.io,
   installed with apt-get when missing and started here (host networking only: no bridge, no iptables), and
   stopped by its PID at the end.
2. The base image: PYTHON_IMAGE (default python:3.12-slim) when it can be pulled; when no registry is reachable,
   a Python image made from Debian packages with debootstrap (python3, pip and this system's CA bundle).
3. The build, with the daemon's built-in BuildKit frontend, ``--network=host``.
4. The checks, on a container with host networking bound to 127.0.0.1: it runs as uid 10001, its HEALTHCHECK
   turns healthy, /mcp answers 401 without the token, an MCP client calls get_background_task against
   ``--simulator`` inside it, and SIGTERM stops it with exit code 0 within 10 s. The image size is printed.

Any failure (the engine cannot be installed or started, the build fails, a check fails) ends the script with a
non-zero status and the reason: nothing is skipped silently.
"""

# ruff: noqa: S603, S607  (runs docker, apt-get and debootstrap: fixed commands, no outside input)

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".tools" / "docker"  # the image cache and the base rootfs: kept between runs
# Unix sockets (dockerd's, containerd's under the exec root) must fit the kernel's 108-byte path limit wherever
# the checkout lives, so they go under a short directory of their own, one per checkout.
RUNTIME = Path(tempfile.gettempdir()) / f"bgtask-docker-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}"
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")
IMAGE = "bgtask-mcp:check"
BASE = "local/python:3-debian"
UID = "10001"
KAFKA = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
EXAMPLE_TASK = "8abfa7b272adc5b40172b73130065ae7"


class CheckFailed(SystemExit):
    def __init__(self, what: str) -> None:
        super().__init__(f"image check failed: {what}")


def say(text: str) -> None:
    print(f"image check: {text}", flush=True)


def run(*args: str, timeout: float = 600, env: dict[str, str] | None = None, check: bool = True,
        stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    done = subprocess.run(list(args), capture_output=True, text=stdin is None, timeout=timeout, env=env,
                          input=stdin, check=False)  # fmt: skip
    if check and done.returncode != 0:
        out = done.stdout if isinstance(done.stdout, str) else done.stdout.decode(errors="replace")
        err = done.stderr if isinstance(done.stderr, str) else done.stderr.decode(errors="replace")
        raise CheckFailed(f"{' '.join(args[:4])} exited with {done.returncode}:\n{out[-3000:]}{err[-3000:]}")
    return done


def docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(DOCKER, *args, timeout=timeout, env={**os.environ, "DOCKER_BUILDKIT": "1"}, check=check)


# -- the engine ----------------------------------------------------------------------------------------------


def engine_answers() -> bool:
    try:
        return docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def apt_install(*packages: str) -> None:
    if shutil.which("apt-get") is None:
        raise CheckFailed(f"no Docker engine answers and there is no apt-get to install {', '.join(packages)}")
    say(f"installing {', '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", timeout=300, env=env)
    run("apt-get", "install", "-y", "--no-install-recommends", *packages, timeout=900, env=env)


@contextmanager
def engine() -> Iterator[None]:
    """An engine for the checks: the one that answers, or dockerd started (and stopped) here."""
    global DOCKER
    if engine_answers():
        say(f"using the running Docker engine ({DOCKER})")
        yield
        return
    if shutil.which("dockerd") is None or not Path("/usr/bin/docker").exists():
        apt_install("docker.io")
        DOCKER = "/usr/bin/docker"
    WORK.mkdir(parents=True, exist_ok=True)
    RUNTIME.mkdir(mode=0o700, exist_ok=True)
    sock = RUNTIME / "docker.sock"
    os.environ["DOCKER_HOST"] = f"unix://{sock}"
    log = (WORK / "dockerd.log").open("ab")
    process = subprocess.Popen(
        ["dockerd", f"--host=unix://{sock}", f"--data-root={WORK / 'data'}", f"--exec-root={RUNTIME / 'exec'}",
         f"--pidfile={RUNTIME / 'docker.pid'}", "--iptables=false", "--ip6tables=false", "--bridge=none"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not engine_answers():
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (WORK / "dockerd.log").read_text(errors="replace")[-3000:]
                raise CheckFailed(f"dockerd did not start (exit {process.poll()}):\n{tail}")
            time.sleep(0.2)
        say(f"started dockerd (pid {process.pid}, host networking only)")
        yield
    finally:
        stop_engine(process)


def stop_engine(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # dockerd stops its containers and its own containerd
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    netns = RUNTIME / "exec" / "netns" / "default"
    if netns.exists():
        run("umount", str(netns), check=False)
    say(f"stopped dockerd (pid {process.pid})")


# -- the base image --------------------------------------------------------------------------------------------


def base_image() -> str:
    wanted = os.environ.get("PYTHON_IMAGE", "python:3.12-slim")
    if docker("image", "inspect", wanted, check=False, timeout=30).returncode == 0:
        return wanted
    pulled = docker("pull", wanted, check=False, timeout=120)
    if pulled.returncode == 0:
        return wanted
    reason = pulled.stderr.strip().splitlines()[-1][:160] if pulled.stderr.strip() else "no registry answers"
    say(f"cannot pull {wanted} ({reason})")
    if docker("image", "inspect", BASE, check=False, timeout=30).returncode != 0:
        make_base_image()
    return BASE


def apt_source() -> tuple[str, str]:
    """The Debian release and mirror this machine installs from (only that mirror may be reachable)."""
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    suite = release.get("VERSION_CODENAME", "bookworm").strip('"')
    mirror = "http://deb.debian.org/debian"
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = line.split()
            if words[:1] == ["deb"] and len(words) >= 3:
                url = next(w for w in words[1:] if "://" in w)
                if "security" not in url:
                    return suite, url
            if words[:1] == ["URIs:"] and len(words) > 1 and "security" not in words[1]:
                return suite, words[1]
    return suite, mirror


def make_base_image() -> None:
    if shutil.which("debootstrap") is None:
        apt_install("debootstrap")
    suite, mirror = apt_source()
    rootfs = WORK / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    say(f"making {BASE} with debootstrap ({suite} from {mirror})")
    started = time.monotonic()
    (WORK / "debs").mkdir(parents=True, exist_ok=True)
    run("debootstrap", "--variant=minbase", "--include=python3,python3-pip,python3-venv,ca-certificates",
        f"--cache-dir={WORK / 'debs'}", suite, str(rootfs), mirror, timeout=1800)  # fmt: skip
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()  # the image's pip installs into /usr/local, as in the official images
    for name, target in (("python", "python3"), ("pip", "pip3")):
        link = rootfs / "usr" / "bin" / name
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.is_file():
        shutil.copyfile(bundle, rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt")  # this system's CAs
    for junk in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"):
        shutil.rmtree(rootfs / junk, ignore_errors=True)
    tarball = WORK / "rootfs.tar"
    run("tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), ".", timeout=600)
    path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    docker("import", "-c", "ENV LANG=C.UTF-8", "-c", f"ENV {path}", "-c", 'CMD ["python3"]', str(tarball), BASE,
           timeout=600)  # fmt: skip
    tarball.unlink()
    shutil.rmtree(rootfs, ignore_errors=True)
    say(f"made {BASE} in {time.monotonic() - started:.0f} s")


# -- the checks ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def inspect(container: str, template: str) -> str:
    return docker("inspect", "--format", template, container, timeout=30).stdout.strip()


def wait_healthy(container: str) -> float:
    started = time.monotonic()
    while True:
        status = inspect(container, "{{if .State.Health}}{{.State.Health.Status}}{{end}} {{.State.Status}}")
        if status.startswith("healthy"):
            return time.monotonic() - started
        if "exited" in status or "unhealthy" in status or time.monotonic() - started > 120:
            logs = docker("logs", container, check=False, timeout=30)
            raise CheckFailed(
                f"the container did not turn healthy ({status}):\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}"
            )
        time.sleep(0.5)


def mcp_call(url: str, token: str) -> dict[str, object]:
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def call() -> dict[str, object]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            result = await client.call_tool("get_background_task", {"instance_id": KAFKA, "task_id": EXAMPLE_TASK})
            if result.is_error or result.structured_content is None:
                raise CheckFailed(f"get_background_task inside the container failed: {result.content}")
            return dict(result.structured_content)

    return anyio.run(call)


def check_container() -> None:
    import httpx2

    port, token = free_port(), secrets.token_hex(24)
    container = docker(
        "run", "-d", "--network=host", "-e", f"BGTASK_HTTP_TOKEN={token}",
        "-e", f"BGTASK_HEALTHCHECK_URL=http://127.0.0.1:{port}/healthz", "--health-interval=1s",
        "--health-start-period=60s", IMAGE, "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port),
        "--simulator", timeout=60,
    ).stdout.strip()  # fmt: skip
    try:
        user = inspect(container, "{{.Config.User}}")
        uid = docker("exec", container, "id", "-u", timeout=30).stdout.strip()
        if user != UID or uid != UID:
            raise CheckFailed(f"the container runs as {uid!r} (image user {user!r}), not uid {UID}")
        say(f"runs as uid {uid}")
        say(f"healthy after {wait_healthy(container):.1f} s")
        url = f"http://127.0.0.1:{port}/mcp"
        refused = httpx2.post(url, json={}, timeout=10)
        if refused.status_code != 401:
            raise CheckFailed(f"/mcp without the token answered {refused.status_code}, not 401")
        say("/mcp without the token: 401")
        task = mcp_call(url, token)
        tasks = task.get("tasks")
        if not (task.get("simulated") and isinstance(tasks, list) and tasks and tasks[0].get("id") == EXAMPLE_TASK):
            raise CheckFailed(f"get_background_task answered something else: {task}")
        say("an MCP client called get_background_task against --simulator inside the container")
        stop_and_check(container)
    finally:
        docker("rm", "-f", container, check=False, timeout=60)


def stop_and_check(container: str) -> None:
    started = time.monotonic()
    docker("stop", "--time", "10", container, timeout=60)
    took = time.monotonic() - started
    code = inspect(container, "{{.State.ExitCode}}")
    if code != "0" or took > 10:
        raise CheckFailed(f"SIGTERM: exit code {code} after {took:.1f} s (wanted 0 within 10 s)")
    say(f"SIGTERM: exit code 0 after {took:.1f} s")


def main() -> int:
    started = time.monotonic()
    with engine():
        base = base_image()
        say(f"building {IMAGE} from {base}")
        build_started = time.monotonic()
        docker("build", "--network=host", "--build-arg", f"PYTHON_IMAGE={base}", "-t", IMAGE, str(ROOT), timeout=1800)
        size = int(docker("image", "inspect", "--format", "{{.Size}}", IMAGE, timeout=30).stdout.strip())
        say(f"built in {time.monotonic() - build_started:.0f} s; image size {size / 1e6:.0f} MB")
        check_container()
        with suppress(CheckFailed):
            docker("image", "rm", IMAGE, check=False, timeout=120)
    say(f"all checks passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
