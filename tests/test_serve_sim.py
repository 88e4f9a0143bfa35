"""``userpods serve --sim``: the README's "run it" command, as a real process."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx2
import trio

from userpods.examples import manifest_names

SERVING = re.compile(r"userpods: serving (http://\S+)")
TRY = re.compile(r"try: curl -s -X POST (\S+)/create_pod .* -d '(\{.*\})'")


async def test_serve_sim_prints_a_working_curl_line_and_stops_on_sigint(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "sim-kubeconfig.yaml"
    process = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "userpods",
            "serve",
            "--sim",
            "--listen",
            "127.0.0.1:0",
            "--sim-kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    output = ""
    try:
        with trio.fail_after(30):
            while not (SERVING.search(output) and TRY.search(output)):
                chunk = await process.stdout.receive_some()
                assert chunk, f"userpods serve --sim exited early: {output}"
                output += chunk.decode()
        url = SERVING.search(output).group(1)  # type: ignore[union-attr]
        found = TRY.search(output)
        assert found is not None
        body = json.loads(found.group(2))
        assert found.group(1) == url  # the curl line names the address it serves
        assert kubeconfig.exists()
        for name in manifest_names():
            assert name in output  # the example manifests are listed
        async with httpx2.AsyncClient(timeout=30) as http:
            reply = await http.post(f"{url}/create_pod", json=body)
            assert reply.status_code == 200, reply.text
            name = reply.json()["pod_name"]
            with trio.fail_after(20):
                ready = await http.post(
                    f"{url}/watch_create_pod", json={"user_id": body["user_id"], "pod_name": name}
                )
            assert ready.json() == {"ready": True}
            listed = (await http.post(f"{url}/get_pods", json={"user_id": body["user_id"]})).json()
            assert [p["pod_name"] for p in listed] == [name]
            assert listed[0]["tokens"]  # the example is the ubuntu manifest: host key tokens
        process.send_signal(signal.SIGINT)
        with trio.fail_after(15):
            code = await process.wait()
            rest = (await process.stdout.receive_some()).decode()
        assert code == 0
        assert "userpods: stopped" in output + rest
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
        await process.stdout.aclose()
