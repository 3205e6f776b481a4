"""The script a remote job starts: unpack the project, point trackbridge at the run, run the
command, report its exit code.

Uploaded as a file next to the project (its bytes name it, see :func:`source`), and run by
the platform's Python (``python bootstrap.py ...``), so it uses the standard library only::

    python bootstrap.py [--archive PATH] [--project-dir DIR] [--config-toml TEXT | --config FILE]
                        [--run-id ID | --run-id-env VAR] -- COMMAND

``--archive`` is unpacked into a fresh directory (else ``--project-dir``, default the current
one, is used as is). The command runs there under ``bash -c`` with ``TRACKBRIDGE_RUN_ID``,
``TRACKBRIDGE_CONFIG`` (``--config-toml`` is written to a private file; its
``${TRACKBRIDGE_JOB_DIR}`` references point at the job's scratch directory) and
``PYTHONUNBUFFERED=1`` set, and the platform's interpreter first on ``PATH``. Output goes to
this process's stdout / stderr (the platform's log). The last line on stderr is
``trackbridge: the command exited with code N``, and this script exits with N. SIGTERM or
SIGINT is passed on to the command's process group (SIGKILL follows after 5 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading

EXIT_MARKER = "trackbridge: the command exited with code "
KILL_AFTER_S = 5.0


def source() -> bytes:
    """This file's bytes (what a target uploads)."""
    with open(__file__, "rb") as f:
        return f.read()


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trackbridge-bootstrap")
    parser.add_argument("--archive")
    parser.add_argument("--project-dir", default=".")
    parser.add_argument("--config-toml")
    parser.add_argument("--config")
    parser.add_argument("--run-id")
    parser.add_argument("--run-id-env")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given after --")
    return args


def _unpack(archive: str, into: str) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # Python < 3.11.4: refuse absolute and parent paths ourselves
            for member in tar.getmembers():
                if member.name.startswith("/") or ".." in member.name.split("/"):
                    raise SystemExit(f"refusing archive member {member.name!r}")
            tar.extractall(into)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    scratch = tempfile.mkdtemp(prefix="trackbridge-job-")
    env = dict(os.environ)
    env["TRACKBRIDGE_JOB_DIR"] = scratch
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", os.defpath)])
    project = os.path.abspath(args.project_dir)
    if args.archive:
        project = os.path.join(scratch, "project")
        os.mkdir(project)
        _unpack(args.archive, project)
    if args.config_toml is not None:
        path = os.path.join(scratch, "config.toml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(args.config_toml)
        env["TRACKBRIDGE_CONFIG"] = path
    elif args.config:
        env["TRACKBRIDGE_CONFIG"] = os.path.abspath(args.config)
    run_id = args.run_id or (os.environ.get(args.run_id_env) if args.run_id_env else None)
    if run_id:
        env["TRACKBRIDGE_RUN_ID"] = run_id
    command = " ".join(args.command) if len(args.command) > 1 else args.command[0]
    shell = shutil.which("bash") or "/bin/sh"
    sys.stdout.flush()
    proc = subprocess.Popen([shell, "-c", command], cwd=project, env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)

    def signal_group(signum: int) -> None:
        try:
            os.killpg(proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def forward(signum: int, frame: object) -> None:
        signal_group(signum)  # then SIGKILL what is left after a grace period
        threading.Timer(KILL_AFTER_S, signal_group, args=(signal.SIGKILL,)).start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    code = proc.wait()
    code = 128 - code if code < 0 else code
    print(f"{EXIT_MARKER}{code}", file=sys.stderr, flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
