"""``userpods sim`` as a real subprocess: startup, kubeconfig, signals, and clean errors."""

from __future__ import annotations

import base64
import signal
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
import yaml
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.resources.core_v1 import Namespace, Node

from userpods.__main__ import main

STARTUP = 30.0  # seconds for the interpreter to import everything and bind (a slow CI box)
SHUTDOWN = 5.0  # seconds from the signal to the exit
SERVING = "userpods sim: serving "


def userpods() -> list[str]:
    script = Path(sys.executable).with_name("userpods")
    return [str(script)] if script.exists() else [sys.executable, "-m", "userpods"]


class Lines:
    """Lines of a process's output stream, read without blocking the trio loop."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.buffer = b""
        self.seen: list[str] = []

    async def next(self) -> str | None:
        while b"\n" not in self.buffer:
            chunk = await self.stream.receive_some()
            if not chunk:
                if not self.buffer:
                    return None
                line, self.buffer = self.buffer, b""
                self.seen.append(line.decode())
                return self.seen[-1]
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        self.seen.append(line.decode())
        return self.seen[-1]

    async def rest(self) -> list[str]:
        while await self.next() is not None:
            pass
        return self.seen


class Sim:
    def __init__(self, process: trio.Process, stdout: Lines, url: str, kubeconfig: Path) -> None:
        self.process = process
        self.stdout = stdout
        self.url = url
        self.kubeconfig = kubeconfig


@asynccontextmanager
async def running_sim(tmp_path: Path, *extra: str) -> AsyncIterator[Sim]:
    """Start ``userpods sim --port 0`` and wait (with a deadline) for its serving line."""
    kubeconfig = tmp_path / "sub" / "kubeconfig.yaml"
    stderr = (tmp_path / "stderr.txt").open("wb")
    process = await trio.lowlevel.open_process(
        [*userpods(), "sim", "--port", "0", "--kubeconfig", str(kubeconfig), *extra],
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    try:
        assert process.stdout is not None
        stdout = Lines(process.stdout)
        with trio.fail_after(STARTUP):
            while True:
                line = await stdout.next()
                if line is None:
                    await process.wait()
                    errors = (tmp_path / "stderr.txt").read_text()
                    pytest.fail(f"userpods sim exited ({process.returncode}): {errors}")
                if line.startswith(SERVING):
                    break
        url = line.removeprefix(SERVING).split(" ", 1)[0]
        yield Sim(process, stdout, url, kubeconfig)
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(SHUTDOWN) as cleanup:
                cleanup.shield = True
                await process.wait()
        stderr.close()


async def run_sim_expecting_failure(
    tmp_path: Path, *extra: str
) -> tuple[int, list[str], list[str]]:
    """Run ``userpods sim`` that must fail at once; its exit code and output lines."""
    with trio.fail_after(STARTUP):
        result = await trio.run_process(
            [
                *userpods(),
                "sim",
                "--port",
                "0",
                "--kubeconfig",
                str(tmp_path / "kubeconfig.yaml"),
                *extra,
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert not (tmp_path / "kubeconfig.yaml").exists()
    return (
        result.returncode,
        result.stdout.decode().splitlines(),
        result.stderr.decode().splitlines(),
    )


async def list_with_kubeconfig(path: Path) -> tuple[list[str], list[str]]:
    client = AsyncClient(KubeConfig.from_file(path))
    try:
        nodes = [n.metadata.name async for n in client.list(Node)]
        namespaces = [ns.metadata.name async for ns in client.list(Namespace)]
    finally:
        await client.close()
    return nodes, namespaces


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serves_until_signalled(tmp_path: Path, signum: signal.Signals) -> None:
    kubeconfig = tmp_path / "sub" / "kubeconfig.yaml"
    assert not kubeconfig.exists()
    async with running_sim(tmp_path, "--namespace", "alpha", "--nodes", "2") as sim:
        # The serving line comes once the server accepts connections and the file is written.
        assert sim.kubeconfig.exists()
        assert stat.S_IMODE(sim.kubeconfig.stat().st_mode) == 0o600
        config: dict[str, Any] = yaml.safe_load(sim.kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == sim.url
        assert sim.url.startswith("https://127.0.0.1:")
        assert not sim.url.endswith(":0")

        with trio.fail_after(SHUTDOWN):
            nodes, namespaces = await list_with_kubeconfig(sim.kubeconfig)
        assert nodes == ["node-1", "node-2"]
        assert "alpha" in namespaces

        sim.process.send_signal(signum)
        with trio.fail_after(SHUTDOWN):
            lines = await sim.stdout.rest()
            code = await sim.process.wait()
        assert code == 0
        assert lines[-1] == "userpods sim: stopped"
    errors = (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in errors


async def test_serves_raw_https_with_the_kubeconfig_ca(tmp_path: Path) -> None:
    async with running_sim(tmp_path) as sim:
        config = yaml.safe_load(sim.kubeconfig.read_text())
        ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
        token = config["users"][0]["user"]["token"]
        context = ssl.create_default_context(cadata=ca.decode())
        with trio.fail_after(SHUTDOWN):
            async with httpx2.AsyncClient(base_url=sim.url, verify=context) as client:
                version = await client.get("/version")
                anonymous = await client.get("/api/v1/nodes")  # system:anonymous: RBAC says no
                denied = await client.get(
                    "/api/v1/nodes", headers={"Authorization": "Bearer not-a-token"}
                )
                nodes = await client.get(
                    "/api/v1/nodes", headers={"Authorization": f"Bearer {token}"}
                )
        assert version.status_code == 200
        assert anonymous.status_code == 403
        assert denied.status_code == 401
        assert nodes.status_code == 200
        assert nodes.json()["kind"] == "NodeList"
        assert len(nodes.json()["items"]) == 3
        sim.process.send_signal(signal.SIGTERM)
        with trio.fail_after(SHUTDOWN):
            assert await sim.process.wait() == 0


async def test_sigterm_with_an_open_watch(tmp_path: Path) -> None:
    """A client holding a watch open does not keep the server from exiting."""
    async with running_sim(tmp_path) as sim:
        client = AsyncClient(KubeConfig.from_file(sim.kubeconfig))
        watching = trio.Event()
        ended: list[BaseException] = []

        async def watch() -> None:
            try:
                async with aclosing(client.watch(Namespace)) as events:
                    async for _ in events:
                        watching.set()
            except (httpx2.HTTPError, ApiError) as exc:  # lightkube watches again: refused
                ended.append(exc)

        try:
            with trio.fail_after(SHUTDOWN):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch)
                    await watching.wait()
                    sim.process.send_signal(signal.SIGTERM)
                    assert await sim.process.wait() == 0
        finally:
            await client.close()
        assert ended


async def test_faults_option_is_applied(tmp_path: Path) -> None:
    async with running_sim(
        tmp_path, "--faults", '{"error_rate": 1.0, "error_codes": [503]}'
    ) as sim:
        config = KubeConfig.from_file(sim.kubeconfig)
        client = AsyncClient(config)
        try:
            with trio.fail_after(SHUTDOWN), pytest.raises(ApiError) as info:
                await client.get(Namespace, "default")
        finally:
            await client.close()
        assert info.value.status.code == 503
        sim.process.send_signal(signal.SIGTERM)
        with trio.fail_after(SHUTDOWN):
            assert await sim.process.wait() == 0


def assert_one_clean_line(stderr: Sequence[str]) -> str:
    assert len(stderr) == 1, stderr
    assert "Traceback" not in stderr[0]
    assert stderr[0].startswith("userpods sim: ")
    return stderr[0]


async def test_bad_faults_json(tmp_path: Path) -> None:
    code, _, stderr = await run_sim_expecting_failure(tmp_path, "--faults", '{"error_rate": 2}')
    assert code != 0
    line = assert_one_clean_line(stderr)
    assert line == "userpods sim: --faults: error_rate must be between 0 and 1"


def sim_usage_error(tmp_path: Path, *extra: str) -> str:
    """Run ``main`` in-process for an option error caught before the server starts."""
    with pytest.raises(SystemExit) as info:
        main(["sim", "--port", "0", "--kubeconfig", str(tmp_path / "kc.yaml"), *extra])
    message = info.value.code
    assert isinstance(message, str)  # SystemExit(str): printed to stderr, exit status 1
    assert "\n" not in message
    assert not (tmp_path / "kc.yaml").exists()
    return message


@pytest.mark.parametrize(
    ("faults", "problem"),
    [
        ('{"error_rate": ', "userpods sim: --faults: not valid JSON: "),
        ("[1]", "userpods sim: --faults: must be a JSON object"),
        ('{"bogus": 1}', "userpods sim: --faults: unknown fault settings: ['bogus']"),
        ('{"error_codes": [404]}', "userpods sim: --faults: error_codes must be a non-empty"),
        ('{"verbs": "list"}', "userpods sim: --faults: verbs must be a list of strings"),
    ],
)
def test_other_bad_faults(tmp_path: Path, faults: str, problem: str) -> None:
    assert sim_usage_error(tmp_path, "--faults", faults).startswith(problem)


async def test_missing_images_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, _, stderr = await run_sim_expecting_failure(tmp_path, "--images", str(missing))
    assert code != 0
    assert assert_one_clean_line(stderr) == f"userpods sim: --images: no such file: {missing}"


async def test_catalogue_with_a_bad_entry(tmp_path: Path) -> None:
    catalogue = tmp_path / "images.yaml"
    catalogue.write_text(
        '- match: "good/*"\n  logs: "fine\\n"\n- match: "bad/*"\n  pull: sometimes\n'
    )
    code, _, stderr = await run_sim_expecting_failure(tmp_path, "--images", str(catalogue))
    assert code != 0
    assert assert_one_clean_line(stderr) == (
        f"userpods sim: --images: {catalogue} entry 2: pull must be ok or fail, not 'sometimes'"
    )


def test_catalogue_that_is_not_yaml(tmp_path: Path) -> None:
    catalogue = tmp_path / "images.yaml"
    catalogue.write_text("- [\n")
    message = sim_usage_error(tmp_path, "--images", str(catalogue))
    assert message.startswith(f"userpods sim: --images: {catalogue}: not valid YAML")


def test_catalogue_with_a_bad_template(tmp_path: Path) -> None:
    catalogue = tmp_path / "images.yaml"
    catalogue.write_text("- match: a\n  files:\n    /etc/app.json: '{\"debug\": true}'\n")
    message = sim_usage_error(tmp_path, "--images", str(catalogue))
    assert message.startswith(
        f"userpods sim: --images: {catalogue} entry 1: files[/etc/app.json]: bad placeholder"
    )


def test_bad_pod_cidr_and_nodes(tmp_path: Path) -> None:
    message = sim_usage_error(tmp_path, "--pod-cidr", "nonsense")
    assert message.startswith("userpods sim: --pod-cidr: ")
    message = sim_usage_error(tmp_path, "--pod-cidr", "fd00::/64")
    assert message == "userpods sim: --pod-cidr: only IPv4 pod CIDRs are supported"
    assert sim_usage_error(tmp_path, "--nodes", "0") == "userpods sim: --nodes must be at least 1"


async def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        kubeconfig = tmp_path / "kubeconfig.yaml"
        with trio.fail_after(STARTUP):
            result = await trio.run_process(
                [*userpods(), "sim", "--port", str(port), "--kubeconfig", str(kubeconfig)],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    assert result.returncode == 1
    line = assert_one_clean_line(result.stderr.decode().splitlines())
    assert line.startswith(f"userpods sim: cannot serve on 127.0.0.1:{port}: ")
    assert "Address already in use" in line or "in use" in line.lower()
    assert not kubeconfig.exists()


def test_main_without_a_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: userpods" in capsys.readouterr().err


async def test_serve_with_a_missing_kubeconfig_says_so_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"podCacheDir: {tmp_path}\n")
    missing = tmp_path / "nowhere.yaml"
    with trio.fail_after(STARTUP):
        result = await trio.run_process(
            [*userpods(), "serve", "--config", str(config), "--kubeconfig", str(missing)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 1
    [line] = result.stderr.decode().splitlines()  # no traceback
    assert line.startswith("userpods serve: cannot load the Kubernetes configuration: ")


def test_the_command_line_loads_the_simulated_cluster_only_when_asked() -> None:
    """``userpods serve`` (no --sim) never imports the simulated cluster: it would be some
    11 MiB of every production daemon's memory."""
    probe = (
        "import sys, userpods.__main__; "
        "print(sorted(m for m in sys.modules if m.startswith('userpods.sim')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]", found.stdout
