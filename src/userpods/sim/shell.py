"""The tiny shell that ``pods/exec`` runs inside a simulated container.

It knows what a backend needs to read a container: ``cat``, ``head -c N FILE...``, ``echo``,
``printenv``, ``env``, ``true``, ``false``, ``test -e`` and ``sh -c "<one of these>"`` with
``$VAR`` expansion. Anything else exits 127 with "command not found", as a shell would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SHELLS = {"sh", "/bin/sh", "bash", "/bin/bash", "/usr/bin/bash", "/usr/bin/sh"}


@dataclass(frozen=True)
class Result:
    stdout: bytes = b""
    stderr: bytes = b""
    code: int = 0


_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _words(text: str, env: Mapping[str, str]) -> list[str]:
    """Split a command line as sh does: quotes, backslashes and ``$VAR``/``${VAR}`` (not inside
    single quotes; an unquoted expansion is split on whitespace, never re-read for quotes)."""
    words: list[str] = []
    word: list[str] = []
    started = False  # a word is open (even an empty one, as after "")
    quote = ""

    def flush() -> None:
        nonlocal word, started
        if started:
            words.append("".join(word))
        word, started = [], False

    i = 0
    while i < len(text):
        ch = text[i]
        var = _VAR.match(text, i) if ch == "$" and quote != "'" else None
        if quote == "'" and ch != "'":
            word.append(ch)
        elif ch == "\\" and i + 1 < len(text) and (not quote or text[i + 1] in '$`"\\'):
            word.append(text[i + 1])
            started = True
            i += 1
        elif var is not None:
            value = env.get(var.group(1) or var.group(2), "")
            if quote:
                word.append(value)
            else:
                if value[:1].isspace():
                    flush()
                for n, part in enumerate(value.split()):
                    if n:
                        flush()
                    word.append(part)
                    started = True
                if value[-1:].isspace():
                    flush()
            i = var.end()
            continue
        elif ch in "'\"" and quote in ("", ch):
            quote = "" if quote else ch
            started = True
        elif ch.isspace() and not quote:
            flush()
        else:
            word.append(ch)
            started = True
        i += 1
    if quote:
        raise ValueError("No closing quotation")
    flush()
    return words


def run(argv: Sequence[str], files: Mapping[str, str], env: Mapping[str, str]) -> Result:
    """Run one command line inside a container with these ``files`` and ``env``."""
    if not argv:
        return Result(stderr=b"no command given\n", code=126)
    name, args = argv[0], list(argv[1:])
    if name in SHELLS:
        if len(args) >= 2 and args[0] == "-c":
            try:
                words = _words(args[1], env)
            except ValueError as exc:
                return Result(stderr=f"{name}: 1: Syntax error: {exc}\n".encode(), code=2)
            if not words:
                return Result()
            result = run(words, files, env)
            if result.code == 127:
                return Result(stderr=f"{name}: 1: {words[0]}: not found\n".encode(), code=127)
            return result
        return Result(stderr=f"{name}: only -c is supported here\n".encode(), code=2)
    base = name.rsplit("/", 1)[-1]
    handler = _COMMANDS.get(base)
    if handler is None:
        return Result(stderr=f"{name}: command not found\n".encode(), code=127)
    return handler(args, files, env)


def _cat(args: list[str], files: Mapping[str, str], env: Mapping[str, str]) -> Result:
    out, err, code = [], [], 0
    for path in args:
        if path in files:
            out.append(files[path].encode())
        else:
            err.append(f"cat: {path}: No such file or directory\n".encode())
            code = 1
    return Result(b"".join(out), b"".join(err), code)


def _head(args: list[str], files: Mapping[str, str], env: Mapping[str, str]) -> Result:
    """``head -c N FILE...``: as GNU coreutils (and busybox) do, several files each come after
    a header ``==> FILE <==`` (after the first, preceded by a newline); a file that cannot be
    opened is named on stderr, the others still read, and the exit code is 1."""
    if len(args) >= 3 and args[0] == "-c" and args[1].isdigit():
        limit, paths = int(args[1]), args[2:]
    elif len(args) >= 2 and args[0].startswith("-c") and args[0][2:].isdigit():
        limit, paths = int(args[0][2:]), args[1:]
    else:
        return Result(stderr=b"head: only head -c N FILE... is supported here\n", code=1)
    out: list[bytes] = []
    err: list[str] = []
    code = 0
    for path in paths:
        if path not in files:
            err.append(f"head: cannot open '{path}' for reading: No such file or directory\n")
            code = 1
            continue
        if len(paths) > 1:
            out.append(f"{chr(10) if out else ''}==> {path} <==\n".encode())
        out.append(files[path].encode()[:limit])
    return Result(b"".join(out), "".join(err).encode(), code)


def _echo(args: list[str], files: Mapping[str, str], env: Mapping[str, str]) -> Result:
    if args and args[0] == "-n":
        return Result(" ".join(args[1:]).encode())
    return Result((" ".join(args) + "\n").encode())


def _printenv(args: list[str], files: Mapping[str, str], env: Mapping[str, str]) -> Result:
    if not args:
        return _env([], files, env)
    found = [env[a] for a in args if a in env]
    return Result(
        "".join(v + "\n" for v in found).encode(), code=0 if len(found) == len(args) else 1
    )


def _env(args: list[str], files: Mapping[str, str], env: Mapping[str, str]) -> Result:
    return Result("".join(f"{k}={v}\n" for k, v in env.items()).encode())


def _true(args: list[str], files: Mapping[str, str], env: Mapping[str, str]) -> Result:
    return Result()


def _false(args: list[str], files: Mapping[str, str], env: Mapping[str, str]) -> Result:
    return Result(code=1)


def _test(args: list[str], files: Mapping[str, str], env: Mapping[str, str]) -> Result:
    if len(args) == 2 and args[0] in ("-e", "-f"):
        return Result(code=0 if args[1] in files else 1)
    if len(args) == 2 and args[0] == "-s":
        return Result(code=0 if files.get(args[1]) else 1)
    return Result(stderr=b"test: only -e, -f and -s are supported here\n", code=2)


_COMMANDS = {
    "cat": _cat,
    "head": _head,
    "echo": _echo,
    "printenv": _printenv,
    "env": _env,
    "true": _true,
    "false": _false,
    "test": _test,
}
