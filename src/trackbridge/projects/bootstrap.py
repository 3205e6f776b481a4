"""The script a remote job starts: unpack the project, point trackbridge at the run, run the
command, report its exit code, leave nothing unsent.

Uploaded as a file next to the project (its bytes name it, see :func:`source`), and run by
the platform's Python (``python bootstrap.py ...``), so it uses the standard library only::

    python bootstrap.py [--archive PATH] [--project-dir DIR] [--config-toml TEXT | --config FILE]
                        [--run-id ID | --run-id-env VAR] [--grace SECONDS]
                        [--require NAME==VERSION ...] -- COMMAND

* ``--require``: a distribution the job needs at exactly this version (trackbridge and the
  target's plugin, when the platform's environment was not built with them). Missing or at
  another version (``importlib.metadata``): one line says so and ``python -m pip install``
  installs exactly those before the command runs.
* ``--archive`` is unpacked into a fresh scratch directory (else ``--project-dir``, default the
  current one, is used as is). The command runs there under ``bash -c`` in a process group of
  its own, with ``TRACKBRIDGE_RUN_ID``, ``TRACKBRIDGE_CONFIG`` (``--config-toml`` is written to a
  private file; its ``${TRACKBRIDGE_JOB_DIR}`` references point at the scratch directory),
  ``PYTHONUNBUFFERED=1`` and the platform's interpreter first on ``PATH``.
* Output: platforms keep one log, so everything goes to this process's stdout, whole lines at a
  time: the command's stdout as is, its stderr lines marked ``[stderr] `` (see :func:`encode`;
  :func:`decode` splits them apart again). After the command, the line
  ``[stderr] trackbridge: the command exited with code N`` is written, and this script exits N.
* SIGTERM or SIGINT (a cancelled job) sends SIGINT to the command's group: a Python script gets
  KeyboardInterrupt, its ``with tb.start_run()`` ends the run KILLED and sends what it logged
  (trackbridge waits up to ``sync_timeout`` for that at exit). SIGTERM follows after
  ``--grace`` seconds, SIGKILL 5 s later.
* The job's journal (``tbruns`` in the scratch directory: what the script logged, first
  written locally) is synced once more after the command (``python -m trackbridge sync``); the
  scratch directory is deleted only when nothing is left unsent, else it is kept and one line
  says how to send the rest.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

EXIT_MARKER = "trackbridge: the command exited with code "
GRACE_S = 40.0  # default --grace: trackbridge's default sync_timeout (30 s) and a margin
KILL_AFTER_S = 5.0  # after SIGTERM
PART_AFTER_S = 0.5  # a line without its newline yet is written once it waited this long
MAX_LINE = 65536  # longer lines are written in pieces
JOURNAL = "tbruns"  # the job's local store, under the scratch directory
#: Marks of lines in this script's output: whole lines of stderr, pieces of a line (the rest
#: follows; the newline after the piece is not the command's) of stderr / stdout, and stdout
#: lines that begin like a mark (escaped, so they are not taken for one).
STDERR, STDERR_PART = b"[stderr] ", b"[stderr+] "
STDOUT, STDOUT_PART = b"[stdout] ", b"[stdout+] "
_MARKS = ((STDERR, "stderr", False), (STDERR_PART, "stderr", True),
          (STDOUT, "stdout", False), (STDOUT_PART, "stdout", True))


def source() -> bytes:
    """This file's bytes (what a target uploads)."""
    with open(__file__, "rb") as f:
        return f.read()


def encode(stream: str, data: bytes, part: bool = False) -> bytes:
    """One line of ``stream`` (``data`` ends with a newline unless ``part``) as written."""
    if part:
        return (STDERR_PART if stream == "stderr" else STDOUT_PART) + data + b"\n"
    if stream == "stderr":
        return STDERR + data
    return STDOUT + data if data.startswith((STDERR, STDERR_PART, STDOUT, STDOUT_PART)) else data


def decode(line: bytes) -> tuple[str, bytes]:
    """(stream, the command's bytes) of one line of this script's output; unmarked lines
    (the platform's own, or an older bootstrap's) are stdout."""
    if line.startswith(b"[std"):
        for mark, stream, part in _MARKS:
            if line.startswith(mark):
                data = line[len(mark):]
                return stream, data[:-1] if part and data.endswith(b"\n") else data
    return "stdout", line


class Relay:
    """Writes the command's output to ``out`` (this process's stdout) whole lines at a time."""

    def __init__(self, out=None) -> None:  # noqa: ANN001 - a binary stream
        self._out = out if out is not None else sys.stdout.buffer
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            try:
                self._out.write(data)
                self._out.flush()
            except (OSError, ValueError):  # nobody reads the log any more: keep going
                pass

    def say(self, text: str) -> None:
        """A line of this script's own, on the stderr side (like trackbridge's local lines)."""
        self.write(encode("stderr", text.encode("utf-8", "replace") + b"\n"))

    def pump(self, fd: int, stream: str) -> None:
        """Copy ``fd`` to the output until EOF: whole lines, a line's piece once it waited
        :data:`PART_AFTER_S` (or grew past :data:`MAX_LINE`), the last piece at EOF."""
        pending, since = b"", 0.0
        while True:
            wait = max(0.0, since + PART_AFTER_S - time.monotonic()) if pending else None
            if not select.select([fd], [], [], wait)[0]:
                self.write(encode(stream, pending, part=True))
                pending = b""
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            if not pending:
                since = time.monotonic()
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            if cut:
                lines = pending[:cut].split(b"\n")[:-1]
                self.write(b"".join(encode(stream, line + b"\n") for line in lines))
                pending, since = pending[cut:], time.monotonic()
            if len(pending) >= MAX_LINE:
                self.write(encode(stream, pending, part=True))
                pending = b""
        if pending:
            self.write(encode(stream, pending, part=True))
        os.close(fd)


class Stopper:
    """SIGTERM / SIGINT to this script: SIGINT to the command's group, SIGTERM after ``grace``
    seconds, SIGKILL :data:`KILL_AFTER_S` later; each step only while the command runs."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.exited = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._signalled = self._started = False

    def handle(self, signum: int, frame: object) -> None:
        self._signalled = True
        self._start()

    def attach(self, proc: subprocess.Popen) -> None:
        self._proc = proc
        if self._signalled:  # it came while the command was being started
            self._start()

    def _start(self) -> None:
        if self._proc is None or self._started:
            return
        self._started = True
        threading.Thread(target=self._stop, daemon=True).start()

    def _stop(self) -> None:
        for signum, wait in ((signal.SIGINT, self.grace), (signal.SIGTERM, KILL_AFTER_S)):
            signal_group(self._proc.pid, signum)
            if self.exited.wait(wait):
                return
        signal_group(self._proc.pid, signal.SIGKILL)


def signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trackbridge-bootstrap")
    parser.add_argument("--archive")
    parser.add_argument("--project-dir", default=".")
    parser.add_argument("--config-toml")
    parser.add_argument("--config")
    parser.add_argument("--run-id")
    parser.add_argument("--run-id-env")
    parser.add_argument("--grace", type=float, default=GRACE_S)
    parser.add_argument("--require", action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given after --")
    for spec in args.require:
        name, _, version = spec.partition("==")
        if not name.strip() or not version.strip():
            parser.error(f"--require takes NAME==VERSION, got {spec!r}")
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


def unsatisfied(requirements: list[str]) -> list[tuple[str, str | None]]:
    """(``NAME==VERSION``, the version installed or None) of each requirement not met."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for spec in requirements:
        name, _, wanted = spec.partition("==")
        try:
            have: str | None = version(name.strip())
        except PackageNotFoundError:
            have = None
        if have != wanted.strip():
            out.append((spec, have))
    return out


def ensure(requirements: list[str], relay: Relay) -> bool:
    """Install the requirements that are missing or at another version; False if pip failed."""
    missing = unsatisfied(requirements)
    if not missing:
        return True
    specs = [spec for spec, _ in missing]
    why = ", ".join(f"{spec} ({'missing' if have is None else have + ' installed'})"
                    for spec, have in missing)
    relay.say(f"trackbridge: installing {why} with {sys.executable} -m pip")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", *specs], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if done.returncode == 0:
        return True
    for line in done.stdout.decode("utf-8", "replace").splitlines()[-20:]:
        relay.say(line)
    relay.say(f"trackbridge: pip could not install {' '.join(specs)}: give the job's "
              f"environment these versions, or let it reach the package index")
    return False


def _finish(proc: subprocess.Popen, pumps: list[threading.Thread], relay: Relay) -> None:
    """Wait for the output pipes to close; stop what the command left running that holds them."""
    for pump in pumps:
        pump.join(2.0)
    for signum, wait in ((signal.SIGTERM, KILL_AFTER_S), (signal.SIGKILL, 2.0)):
        if not any(pump.is_alive() for pump in pumps):
            return
        if signum == signal.SIGTERM:
            relay.say("trackbridge: stopping the processes the command left running")
        signal_group(proc.pid, signum)
        for pump in pumps:
            pump.join(wait)


def drain(scratch: str, env: dict[str, str], timeout: float, relay: Relay) -> bool:
    """Send what the job's journal still holds; True when nothing is left unsent."""
    journal = os.path.join(scratch, JOURNAL)
    config = env.get("TRACKBRIDGE_CONFIG")
    if not os.path.exists(os.path.join(journal, "trackbridge.db")):
        return True
    command = [sys.executable, "-m", "trackbridge", "sync", "--from", journal, "--to",
               config or "(no config)", "--json"]
    try:
        done = subprocess.run(command, env=env, cwd=scratch, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)
        if done.returncode == 0:
            return True
        lines = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
        why = lines[-1][:300] if lines else f"exit code {done.returncode}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        why = f"{type(exc).__name__}: {exc}"[:300]
    relay.say(f"trackbridge: the job's journal {journal} may hold data the tracking service "
              f"has not received ({why}); it was kept: send it from this machine with "
              f"TRACKBRIDGE_JOB_DIR={scratch} {sys.executable} -m trackbridge sync --from "
              f"{journal} --to {config}")
    return False


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    relay = Relay()
    if args.require and not ensure(args.require, relay):
        return 1
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
    stopper = Stopper(args.grace)
    for signum in (signal.SIGTERM, signal.SIGINT):  # before the start: the command gets SIG_DFL
        signal.signal(signum, stopper.handle)
    proc = subprocess.Popen([shell, "-c", command], cwd=project, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    stopper.attach(proc)
    pumps = [threading.Thread(target=relay.pump, args=(os.dup(pipe.fileno()), name), daemon=True)
             for pipe, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
    proc.stdout.close()
    proc.stderr.close()
    for pump in pumps:
        pump.start()
    code = proc.wait()
    stopper.exited.set()
    _finish(proc, pumps, relay)
    code = 128 - code if code < 0 else code
    relay.say(f"{EXIT_MARKER}{code}")
    if drain(scratch, env, args.grace, relay):
        shutil.rmtree(scratch, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
