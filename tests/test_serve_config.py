"""``userpods serve`` with the original backend's configuration: its keys that userpods does
not use are named in one warning on the daemon's log, in the configured log format."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import trio

SERVING = re.compile(r"userpods: serving (http://\S+)")


async def test_keys_of_the_original_are_named_in_one_warning_on_the_log(tmp_path: Path) -> None:
    caches = tmp_path / "podcaches"
    caches.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"podCacheDir: {caches}\n"
        'ingressIssuer: "user-pods-issuer"\n'
        'defaultRestartPolicy: ""\n'
        "testUser: registeredtest7\n"
        "logFormat: json\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}
    env["BACKEND_PUBLICIP"] = "130.226.137.130"
    log = tmp_path / "stderr.log"
    command = [sys.executable, "-m", "userpods", "serve", "--sim", "--config", str(config)]
    command += ["--listen", "127.0.0.1:0", "--sim-kubeconfig", str(tmp_path / "kubeconfig")]
    with log.open("wb") as err:
        process = await trio.lowlevel.open_process(
            command, stdout=subprocess.PIPE, stderr=err, env=env, cwd=tmp_path
        )
    assert process.stdout is not None
    try:
        output = ""
        with trio.fail_after(30):
            while not SERVING.search(output):
                chunk = await process.stdout.receive_some()
                assert chunk, f"userpods serve exited: {output}\n{log.read_text()}"
                output += chunk.decode()
        process.send_signal(signal.SIGINT)
        with trio.fail_after(15):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
        await process.stdout.aclose()
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    ignoring = [e for e in entries if "ignoring" in e["event"]]
    assert len(ignoring) == 1, entries
    [warning] = ignoring
    assert warning["level"] == "warning"
    assert "ingressIssuer" in warning["event"] and "BACKEND_PUBLICIP" in warning["event"]
    assert "defaultRestartPolicy" not in warning["event"]  # "" is accepted: the default
    assert "testUser" not in warning["event"]  # a key userpods has
