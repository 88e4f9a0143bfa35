"""The tiny shell that pods/exec runs inside a simulated container."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from userpods.sim.shell import Result, run

FILES = {"/tmp/key": "secret-token", "/tmp/empty": "", "/etc/hostname": "pod-1\n"}
ENV = {"HOME": "/root", "USER": "alice", "SPACED": " a  b ", "QUOTE": "it's", "EMPTY": ""}


def sh(command: str) -> Result:
    return run(["sh", "-c", command], FILES, ENV)


def test_head_c_of_several_files_writes_headers_as_coreutils() -> None:
    found = run(["head", "-c", "3", "/tmp/nope", "/tmp/key", "/etc/hostname"], FILES, ENV)
    assert found.stdout == b"==> /tmp/key <==\nsec\n==> /etc/hostname <==\npod"
    assert found.stderr == b"head: cannot open '/tmp/nope' for reading: No such file or directory\n"
    assert found.code == 1


@pytest.mark.skipif(shutil.which("head") is None, reason="no head on this machine")
def test_head_c_of_several_files_is_what_this_machines_head_writes(tmp_path: Path) -> None:
    files = {"/tmp/key": "secret-token", "/tmp/empty": "", "/etc/hostname": "pod-1\n"}
    local = {}
    for path, text in files.items():
        local[path] = tmp_path / path.strip("/").replace("/", "_")
        local[path].write_text(text)
    names = ["/tmp/nope", "/tmp/key", "/tmp/empty", "/etc/hostname"]
    argv = ["head", "-c", "8", *(str(local.get(n, tmp_path / "nope")) for n in names)]
    real = subprocess.run(argv, capture_output=True, check=False)
    ours = run(["head", "-c", "8", *names], files, ENV)
    for name in names:
        real_name = str(local.get(name, tmp_path / "nope"))
        real = subprocess.CompletedProcess(
            argv,
            real.returncode,
            real.stdout.replace(real_name.encode(), name.encode()),
            real.stderr.replace(real_name.encode(), name.encode()),
        )
    assert (ours.stdout, ours.code) == (real.stdout, real.returncode)
    assert ours.stderr.split(b":")[:2] == real.stderr.split(b":")[:2]


def test_cat() -> None:
    assert run(["cat", "/tmp/key"], FILES, ENV) == Result(b"secret-token")
    assert run(["/bin/cat", "/tmp/key", "/etc/hostname"], FILES, ENV) == Result(
        b"secret-tokenpod-1\n"
    )
    missing = run(["cat", "/tmp/key", "/nope"], FILES, ENV)
    assert missing == Result(b"secret-token", b"cat: /nope: No such file or directory\n", 1)


def test_head_c() -> None:
    assert run(["head", "-c", "6", "/tmp/key"], FILES, ENV) == Result(b"secret")
    assert run(["head", "-c6", "/tmp/key"], FILES, ENV) == Result(b"secret")
    assert run(["head", "-c", "1000", "/tmp/key"], FILES, ENV) == Result(b"secret-token")
    missing = run(["head", "-c", "5", "/nope"], FILES, ENV)
    assert missing.code == 1
    assert missing.stderr == b"head: cannot open '/nope' for reading: No such file or directory\n"
    assert run(["head", "/tmp/key"], FILES, ENV).code == 1
    assert run(["head", "-c", "x", "/tmp/key"], FILES, ENV).code == 1


def test_echo() -> None:
    assert run(["echo", "a", "b"], FILES, ENV) == Result(b"a b\n")
    assert run(["echo"], FILES, ENV) == Result(b"\n")
    assert run(["echo", "-n", "a", "b"], FILES, ENV) == Result(b"a b")


def test_printenv_and_env() -> None:
    assert run(["printenv", "HOME"], FILES, ENV) == Result(b"/root\n")
    assert run(["printenv", "HOME", "USER"], FILES, ENV) == Result(b"/root\nalice\n")
    assert run(["printenv", "NOPE"], FILES, ENV) == Result(b"", b"", 1)
    assert run(["printenv", "HOME", "NOPE"], FILES, ENV) == Result(b"/root\n", b"", 1)
    everything = b"HOME=/root\nUSER=alice\nSPACED= a  b \nQUOTE=it's\nEMPTY=\n"
    assert run(["env"], FILES, ENV) == Result(everything)
    assert run(["printenv"], FILES, ENV) == Result(everything)


def test_true_false() -> None:
    assert run(["true"], FILES, ENV) == Result()
    assert run(["/bin/false"], FILES, ENV) == Result(code=1)


def test_test_e() -> None:
    assert run(["test", "-e", "/tmp/key"], FILES, ENV).code == 0
    assert run(["test", "-e", "/tmp/empty"], FILES, ENV).code == 0
    assert run(["test", "-e", "/nope"], FILES, ENV).code == 1
    assert run(["test", "-f", "/tmp/key"], FILES, ENV).code == 0
    assert run(["test", "-s", "/tmp/key"], FILES, ENV).code == 0
    assert run(["test", "-s", "/tmp/empty"], FILES, ENV).code == 1
    assert run(["test", "-x", "/tmp/key"], FILES, ENV).code == 2


def test_sh_c_runs_one_command() -> None:
    assert sh("cat /tmp/key") == Result(b"secret-token")
    assert sh("test -e /tmp/key").code == 0
    assert sh("head -c 3 /tmp/key") == Result(b"sec")
    assert sh("false").code == 1
    assert sh("") == Result()
    for shell in ("/bin/sh", "bash", "/bin/bash"):
        assert run([shell, "-c", "echo hi"], FILES, ENV) == Result(b"hi\n")


def test_sh_c_expands_variables() -> None:
    assert sh("echo $HOME ${USER}") == Result(b"/root alice\n")
    assert sh("echo x${USER}y") == Result(b"xalicey\n")
    assert sh("echo $NOPE.") == Result(b".\n")
    assert sh('echo "$HOME"') == Result(b"/root\n")
    assert sh("printenv USER") == Result(b"alice\n")


def test_sh_c_quoting() -> None:
    assert sh("echo 'a  b'") == Result(b"a  b\n")
    assert sh('echo "a  b"') == Result(b"a  b\n")
    assert sh("echo '$HOME'") == Result(b"$HOME\n")  # no expansion in single quotes
    assert sh("echo '${USER}'") == Result(b"${USER}\n")
    assert sh('echo "it\'s"') == Result(b"it's\n")
    assert sh("echo a\\ b") == Result(b"a b\n")
    assert sh('echo "\\$HOME"') == Result(b"$HOME\n")
    assert sh("echo $") == Result(b"$\n")


def test_sh_c_expansion_is_not_reparsed() -> None:
    """An unquoted expansion is split on whitespace but its quotes are data."""
    assert sh("echo $QUOTE") == Result(b"it's\n")
    assert sh("echo [$SPACED]") == Result(b"[ a b ]\n")
    assert sh('echo "[$SPACED]"') == Result(b"[ a  b ]\n")
    assert sh("printf $EMPTY").code == 127  # printf is not known; $EMPTY adds no word
    assert sh('echo "$EMPTY" x') == Result(b" x\n")


def test_sh_c_syntax_error() -> None:
    result = sh('echo "unterminated')
    assert result.code == 2
    assert b"Syntax error" in result.stderr


def test_sh_without_c() -> None:
    assert run(["sh"], FILES, ENV).code == 2
    assert run(["sh", "-x", "true"], FILES, ENV).code == 2


def test_unknown_command_is_127() -> None:
    result = run(["nosuch", "arg"], FILES, ENV)
    assert result == Result(b"", b"nosuch: command not found\n", 127)
    assert run(["/usr/bin/ls"], FILES, ENV).code == 127
    via_sh = sh("nosuch arg")
    assert via_sh.code == 127
    assert via_sh.stderr == b"sh: 1: nosuch: not found\n"


def test_empty_argv() -> None:
    assert run([], FILES, ENV).code == 126


@pytest.mark.parametrize("argv", [["cat"], ["cat", "/tmp/empty"]])
def test_cat_edge_cases(argv: list[str]) -> None:
    assert run(argv, FILES, ENV) == Result()
