"""Run an image of e2e/images.sh for real: its OCI archive unpacked by umoci into a bundle,
started by runc as the image's own user with every capability dropped (as a restricted pod
runs it), in a network namespace of the test's own where only loopback exists. Clients run in
that namespace through `ip netns exec`, so every image keeps its standard ports."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNC_ROOT = Path("/run/perfrun-test-runc")


@dataclass(frozen=True)
class Image:
    name: str
    reference: str
    archive: Path


def read_tsv(path: Path) -> dict[str, Image]:
    out: dict[str, Image] = {}
    for line in path.read_text().splitlines():
        name, reference, archive = line.split("\t")
        out[name] = Image(name, reference, Path(archive))
    return out


def unpack(image: Image, cache: Path) -> Path:
    """The image's root filesystem and runc config (umoci's), unpacked once per archive."""
    bundle = cache / image.archive.name.removesuffix(".oci.tar")
    if (bundle / "config.json").is_file():
        return bundle
    # Unpacked beside the cache under a name of this process's own, then renamed into place:
    # another session unpacking the same archive at once keeps its own copy.
    work = cache / f".{bundle.name}.{os.getpid()}"
    layout, tmp = work / "layout", work / "bundle"
    shutil.rmtree(work, ignore_errors=True)
    with tarfile.open(image.archive) as tar:
        tar.extractall(layout, filter="tar")
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{image.reference}", str(tmp)],
        check=True,
        capture_output=True,
    )
    (tmp / "image-config.json").write_text(json.dumps(_image_config(layout)))
    try:
        tmp.rename(bundle)
    except OSError:  # another session was first
        if not (bundle / "config.json").is_file():
            raise
    shutil.rmtree(work, ignore_errors=True)
    return bundle


def _image_config(layout: Path) -> dict[str, Any]:
    """The image's own config (Entrypoint, Cmd, User, ...) from its OCI layout."""

    def blob(digest: str) -> dict[str, Any]:
        algo, hexdigest = digest.split(":")
        data: dict[str, Any] = json.loads((layout / "blobs" / algo / hexdigest).read_text())
        return data

    index = json.loads((layout / "index.json").read_text())
    manifest = blob(index["manifests"][0]["digest"])
    config: dict[str, Any] = blob(manifest["config"]["digest"]).get("config") or {}
    return config


@dataclass
class Netns:
    """A network namespace with loopback up; `run` executes a host program inside it."""

    name: str

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def run(
        self, *cmd: str, check: bool = False, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *cmd],
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@contextlib.contextmanager
def netns() -> Iterator[Netns]:
    ns = Netns(f"perfrun-img-{secrets.token_hex(4)}")
    subprocess.run(["ip", "netns", "add", ns.name], check=True)
    try:
        subprocess.run(["ip", "-n", ns.name, "link", "set", "lo", "up"], check=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "delete", ns.name], check=False)


@dataclass
class Container:
    id: str
    bundle: Path
    log: Path

    def exec(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A command inside the running container, as the image's user."""
        return subprocess.run(
            ["runc", "--root", str(RUNC_ROOT), "exec", self.id, *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def state(self) -> str:
        out = subprocess.run(
            ["runc", "--root", str(RUNC_ROOT), "state", self.id], capture_output=True, text=True
        )
        return str(json.loads(out.stdout)["status"]) if out.returncode == 0 else "gone"


def _config(
    base: dict[str, Any],
    image_config: dict[str, Any],
    *,
    ns: Netns,
    args: list[str] | None,
    command: list[str] | None,
    env: dict[str, str],
    tmpfs: list[str],
    binds: list[tuple[Path, str]],
    user: tuple[int, int] | None,
    read_only: bool,
    hostname: str,
) -> dict[str, Any]:
    config = json.loads(json.dumps(base))
    process = config["process"]
    process["terminal"] = False
    # Raising an rlimit needs CAP_SYS_RESOURCE, which this sandbox lacks: inherit them.
    process.pop("rlimits", None)
    process["noNewPrivileges"] = True
    process["capabilities"] = {k: [] for k in ("bounding", "effective", "permitted", "ambient")}
    # As a pod: `command` replaces the entrypoint, `args` the image's CMD.
    entrypoint = command if command is not None else list(image_config.get("Entrypoint") or [])
    cmd = args if args is not None else [] if command is not None else image_config.get("Cmd")
    process["args"] = entrypoint + list(cmd or [])
    if user is not None:
        process["user"] = {"uid": user[0], "gid": user[1], "additionalGids": [user[1]]}
    process["env"] = [e for e in process["env"] if e.split("=", 1)[0] not in env] + [
        f"{k}={v}" for k, v in env.items()
    ]
    config["hostname"] = hostname
    # As containerd does in every pod: unprivileged users may bind ports below 1024.
    config["linux"].setdefault("sysctl", {})["net.ipv4.ip_unprivileged_port_start"] = "0"
    config["root"]["readonly"] = read_only
    namespaces = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
    namespaces.append({"type": "network", "path": ns.path})
    config["linux"]["namespaces"] = namespaces
    uid = process["user"]["uid"]
    gid = process["user"]["gid"]
    for target in tmpfs:  # writable, owned by the image's user (an emptyDir with fsGroup)
        config["mounts"].append(
            {
                "destination": target,
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=0775", f"uid={uid}", f"gid={gid}"],
            }
        )
    for source, target in binds:
        config["mounts"].append(
            {
                "destination": target,
                "type": "bind",
                "source": str(source),
                "options": ["rbind", "ro"],
            }
        )
    return config


@contextlib.contextmanager
def _bundle(
    image: Image,
    cache: Path,
    workdir: Path,
    ns: Netns,
    **options: Any,
) -> Iterator[tuple[str, Path]]:
    """A bundle of its own for one container: the unpacked image as the lower layer of an
    overlay (nothing a container writes reaches the next one) and its runc config."""
    bundle = unpack(image, cache)
    base = json.loads((bundle / "config.json").read_text())
    image_config = json.loads((bundle / "image-config.json").read_text())
    cid = f"perfrun-{image.name}-{secrets.token_hex(3)}"
    config = _config(base, image_config, ns=ns, hostname=image.name, **options)
    run_bundle = workdir / cid
    for part in ("upper", "work", "rootfs"):
        (run_bundle / part).mkdir(parents=True)
    lower, upper, work = bundle / "rootfs", run_bundle / "upper", run_bundle / "work"
    root = run_bundle / "rootfs"
    layers = f"lowerdir={lower},upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", layers, str(root)], check=True)
    try:
        config["root"]["path"] = str(root)
        (run_bundle / "config.json").write_text(json.dumps(config))
        RUNC_ROOT.mkdir(parents=True, exist_ok=True)
        yield cid, run_bundle
    finally:
        subprocess.run(["runc", "--root", str(RUNC_ROOT), "kill", cid, "KILL"], capture_output=True)
        subprocess.run(
            ["runc", "--root", str(RUNC_ROOT), "delete", "--force", cid], capture_output=True
        )
        subprocess.run(["umount", "-l", str(root)], check=False)


def _options(
    args: list[str] | None,
    command: list[str] | None,
    env: dict[str, str] | None,
    tmpfs: list[str] | None,
    binds: list[tuple[Path, str]] | None,
    user: tuple[int, int] | None,
    read_only: bool,
) -> dict[str, Any]:
    return {
        "args": args,
        "command": command,
        "env": env or {},
        "tmpfs": tmpfs or [],
        "binds": binds or [],
        "user": user,
        "read_only": read_only,
    }


@contextlib.contextmanager
def container(
    image: Image,
    cache: Path,
    workdir: Path,
    ns: Netns,
    *,
    args: list[str] | None = None,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
    tmpfs: list[str] | None = None,
    binds: list[tuple[Path, str]] | None = None,
    user: tuple[int, int] | None = None,
    read_only: bool = False,
) -> Iterator[Container]:
    """Start the image detached, ``command`` and ``args`` meaning what they mean in a pod; stop
    and delete it at the end whatever happened. Logs go to a file the test can show."""
    options = _options(args, command, env, tmpfs, binds, user, read_only)
    with _bundle(image, cache, workdir, ns, **options) as (cid, run_bundle):
        log = workdir / f"{cid}.log"
        with log.open("wb") as out:
            subprocess.run(
                ["runc", "--root", str(RUNC_ROOT), "run", "-d", "-b", str(run_bundle), cid],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                check=True,
                timeout=60,
            )
        yield Container(cid, run_bundle, log)


def run_once(
    image: Image,
    cache: Path,
    workdir: Path,
    ns: Netns,
    *,
    command: list[str],
    env: dict[str, str] | None = None,
    tmpfs: list[str] | None = None,
    user: tuple[int, int] | None = None,
    read_only: bool = False,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in the image to its end (foreground runc), output captured."""
    options = _options(None, command, env, tmpfs, None, user, read_only)
    with _bundle(image, cache, workdir, ns, **options) as (cid, run_bundle):
        return subprocess.run(
            ["runc", "--root", str(RUNC_ROOT), "run", "-b", str(run_bundle), cid],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
