"""The core of remote project runs, without a platform: packing, the bootstrap a job runs,
incremental logs, wheels of installed code, attaching a journal to a remote-only run, the
target registry and the run command's options."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

import pytest
from click.testing import CliRunner

from testsupport.remote_project import write_tree
from trackbridge.cli import cli
from trackbridge.entities import Metric, Param, RunTag
from trackbridge.errors import RunNotFoundError
from trackbridge.local.store import LocalBackend
from trackbridge.projects import bootstrap
from trackbridge.projects.errors import ProjectError
from trackbridge.projects.logtail import LogTail
from trackbridge.projects.packing import pack_project, project_files
from trackbridge.projects.runner import plan_run
from trackbridge.projects.targets import Target, exit_code_from_log, target_classes


# -- packing ------------------------------------------------------------------------------
def test_packing_leaves_out_vcs_envs_caches_stores_and_gitignored_files(tmp_path):
    root = write_tree(tmp_path / "p", {
        "MLproject": "name: p\n", "train.py": "x", "src/mod.py": "y",
        ".gitignore": "*.log\n/outputs/\n!keep.log\n", "run.log": "no", "keep.log": "yes",
        "outputs/model.bin": "no", "src/outputs/ok.txt": "yes (the pattern is anchored)",
        "src/.gitignore": "secret.txt\n", "src/secret.txt": "no", "secret.txt": "yes (root)",
        ".git/config": "no", ".venv/bin/python": "no", "env/pyvenv.cfg": "no", "env/lib.py": "no",
        "src/__pycache__/mod.cpython-311.pyc": "no", "src/old.pyc": "no",
        "tbruns/trackbridge.db": "no", "store/trackbridge.db": "no", "mlruns/0/meta.yaml": "no",
        "mlartifacts/0/a/model.pkl": "no", "mlflow.db": "no", "src/mlflow.db-wal": "no",
    })
    assert project_files(root) == [".gitignore", "MLproject", "keep.log", "secret.txt",
                                   "src/.gitignore", "src/mod.py", "src/outputs/ok.txt", "train.py"]


@pytest.fixture
def git_env(tmp_path, monkeypatch):
    """git isolated from the machine's config, with a global excludes file of its own."""
    excludes = tmp_path / "global-excludes"
    excludes.write_text("*.bak\n")
    config = tmp_path / "gitconfig"
    config.write_text(f"[core]\n\texcludesFile = {excludes}\n[user]\n\tname = t\n"
                      f"\temail = t@example.com\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)

    def git(cwd, *args):
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)

    return git


def test_inside_git_the_repositorys_ignore_rules_apply_above_the_project_too(tmp_path, git_env):
    repo = write_tree(tmp_path / "repo", {
        ".gitignore": "data/\n*.secret\n", "README.md": "top",
        "proj/MLproject": "name: p\n", "proj/train.py": "x", "proj/data/big.csv": "no",
        "proj/k.secret": "no", "proj/forced.secret": "yes: tracked", "proj/local.txt": "no",
        "proj/notes.bak": "no (global excludes)", "proj/sub/.gitignore": "*.tmp\n",
        "proj/sub/a.tmp": "no", "proj/sub/b.py": "yes", "proj/gone.py": "tracked, deleted",
        "proj/mlflow.db": "no", "proj/mlartifacts/1/m.pkl": "no", "proj/mlruns/0/x": "no",
        "proj/.venv/bin/python": "no", "proj/env/pyvenv.cfg": "no", "proj/env/lib.py": "no",
        "proj/pkg/__pycache__/m.pyc": "no", "proj/tbruns/trackbridge.db": "no",
        "proj/vendored/lib.py": "yes: a nested repository", "proj/vendored/.gitignore": "*.o\n",
        "proj/vendored/lib.o": "no",
    })
    git_env(repo, "init", "-q")
    (repo / ".git" / "info" / "exclude").write_text("local.txt\n")
    git_env(repo / "proj" / "vendored", "init", "-q")
    git_env(repo, "add", "-f", "proj/forced.secret", "proj/gone.py", "proj/train.py")
    (repo / "proj" / "gone.py").unlink()
    assert project_files(repo / "proj") == [
        "MLproject", "forced.secret", "sub/.gitignore", "sub/b.py", "train.py",
        "vendored/.gitignore", "vendored/lib.py"]
    # the same files without git: only the project's own .gitignore files apply
    outside = tmp_path / "copy"
    shutil.copytree(repo / "proj", outside, ignore=shutil.ignore_patterns(".git"))
    assert "data/big.csv" in project_files(outside) and "k.secret" in project_files(outside)


def test_without_a_git_binary_the_projects_gitignore_files_apply(tmp_path, git_env, monkeypatch):
    repo = write_tree(tmp_path / "repo", {".gitignore": "data/\n", "proj/MLproject": "name: p\n",
                                          "proj/data/x.csv": "a", "proj/.gitignore": "*.log\n",
                                          "proj/run.log": "no", "proj/mlflow.db": "no"})
    git_env(repo, "init", "-q")
    assert project_files(repo / "proj") == [".gitignore", "MLproject"]
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert project_files(repo / "proj") == [".gitignore", "MLproject", "data/x.csv"]


def test_a_project_its_enclosing_repository_ignores_is_packed_by_its_own_rules(tmp_path, git_env):
    repo = write_tree(tmp_path / "repo", {".gitignore": "scratch/\n",
                                          "scratch/proj/MLproject": "name: p\n",
                                          "scratch/proj/.gitignore": "out/\n",
                                          "scratch/proj/out/x": "no", "scratch/proj/t.py": "x"})
    git_env(repo, "init", "-q")
    assert project_files(repo / "scratch" / "proj") == [".gitignore", "MLproject", "t.py"]


class _Remote(Target):
    """A remote target without a platform: what plan_run asks of one."""

    name = "fake"
    path_hint = "the job reads (fake://...)"

    def remote_path(self, name, value):
        if value.startswith("fake://"):
            return value
        raise ValueError(f"{name!r}: not a fake:// location: {value!r}")

    submit = wait = read_logs = cancel = None


def test_a_relative_path_parameter_must_be_a_packed_file_of_the_project(tmp_path, git_env):
    repo = write_tree(tmp_path / "repo", {
        ".gitignore": "data/\n", "proj/MLproject": (
            "name: p\nentry_points:\n  main:\n    parameters: {data: path}\n"
            "    command: \"python t.py {data}\"\n"),
        "proj/in.csv": "a", "proj/conf/a.yaml": "x", "proj/data/x.csv": "no",
        "proj/.venv/x.csv": "no", "proj/empty/.keep.log": "no", "proj/.gitignore": "*.log\n"})
    git_env(repo, "init", "-q")
    proj = repo / "proj"

    def plan(value):
        return plan_run(proj, params={"data": value}, target=_Remote()).params["data"]

    assert [plan(v) for v in ("in.csv", "./conf/a.yaml", "conf", "fake://x")] == [
        "in.csv", "conf/a.yaml", "conf", "fake://x"]
    with pytest.raises(ProjectError) as info:
        plan("data/x.csv")
    assert "\n" not in str(info.value)
    assert ("'data' is a path parameter: 'data/x.csv' is left out of the packed project "
            f"(ignored by {repo / '.gitignore'} line 1 (data/)), so the job on fake would not "
            "find it; un-ignore it (a `!data/x.csv` line after that rule), or pass a location "
            "the job reads (fake://...)") in str(info.value)
    with pytest.raises(ProjectError, match=r"'\.venv/x\.csv' is left out of the packed project "
                                           r"\(\.venv/ is a directory that is never packed: .*\), so"
                                           r".*; move it out of \.venv/, or pass a location"):
        plan(".venv/x.csv")
    with pytest.raises(ProjectError, match=r"'empty' is left out of the packed project \(each "
                                           r"file it holds is ignored or never packed\), .*; "
                                           r"un-ignore the files it needs, or pass"):
        plan("empty")
    with pytest.raises(ProjectError, match=r"'data': not a fake:// location: 'nowhere.csv'"):
        plan("nowhere.csv")  # not here at all: the target's rule


def test_outside_git_the_reason_names_the_projects_gitignore(tmp_path):
    proj = write_tree(tmp_path / "p", {
        "MLproject": ("name: p\nentry_points:\n  main:\n    parameters: {data: path}\n"
                      "    command: \"python t.py {data}\"\n"),
        "sub/.gitignore": "# outputs\n/out/\n", "sub/out/m.bin": "x", "mlflow.db": "x"})
    with pytest.raises(ProjectError, match=rf"'sub/out/m\.bin' is left out of the packed project "
                                           rf"\(ignored by {re.escape(str(proj / 'sub/.gitignore'))}"
                                           rf" \(/out/\)\)"):
        plan_run(proj, params={"data": "sub/out/m.bin"}, target=_Remote())
    with pytest.raises(ProjectError, match=r"'mlflow.db' is left out of the packed project "
                                           r"\(MLflow's local store is never packed\)"):
        plan_run(proj, params={"data": "mlflow.db"}, target=_Remote())


def test_an_unchanged_project_packs_to_the_same_bytes(tmp_path):
    root = write_tree(tmp_path / "p", {"MLproject": "name: p\n", "a/b.py": "print(1)\n"})
    (root / "run.sh").write_text("echo hi\n")
    (root / "run.sh").chmod(0o755)
    first = pack_project(root, tmp_path / "out1")
    os.utime(root / "a" / "b.py", (1, 1))  # touched, not changed
    second = pack_project(root, tmp_path / "out2")
    assert first.sha256 == second.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert first.path.name == f"{first.sha256}.tar.gz" and first.size == first.path.stat().st_size
    with tarfile.open(first.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["MLproject", "a/b.py", "run.sh"]
    assert {(m.mtime, m.uid, m.uname) for m in members.values()} == {(0, 0, "")}
    assert members["run.sh"].mode == 0o755 and members["a/b.py"].mode == 0o644
    (root / "a" / "b.py").write_text("print(2)\n")
    assert pack_project(root, tmp_path / "out3").sha256 != first.sha256


def test_symlinks_inside_are_packed_as_files_outside_are_left_out(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("private")
    root = write_tree(tmp_path / "p", {"MLproject": "name: p\n", "data.csv": "a\n"})
    (root / "link.csv").symlink_to(root / "data.csv")
    (root / "escape.txt").symlink_to(outside)
    with pytest.warns(UserWarning, match="escape.txt: a symlink to outside the project"):
        archive = pack_project(root, tmp_path / "out")
    assert archive.files == ("MLproject", "data.csv", "link.csv")


def test_sizes_are_shown_in_human_units_with_enough_precision(tmp_path):
    from trackbridge.projects.packing import check_size, human_size

    assert [human_size(n) for n in (0, 812, 4096, 41_000, 999_999, 12_345_678, 2.5e9)] == [
        "0 B", "812 B", "4.10 KB", "41.0 KB", "1.00 MB", "12.3 MB", "2.50 GB"]
    root = write_tree(tmp_path / "p", {"MLproject": "name: p\n"})
    archive = pack_project(root, tmp_path / "out")
    assert archive.describe() == f"1 files, {archive.size} B, sha256 {archive.sha256}"
    (root / "w.bin").write_bytes(os.urandom(4000))  # incompressible
    big = pack_project(root, tmp_path / "out")
    with pytest.raises(ProjectError) as info:
        check_size(big, 0.001, "azureml")
    assert str(info.value).startswith(
        f"--on azureml: the packed project is {human_size(big.size)} ({big.size:,} bytes), "
        f"over the configured limit max_archive_mb = 0.001 (1.00 KB); ")
    assert human_size(big.size).endswith(" KB") and big.size > 4000


# -- the bootstrap a job runs -------------------------------------------------------------
def test_bootstrap_unpacks_points_trackbridge_at_the_run_and_reports_the_exit_code(tmp_path):
    root = write_tree(tmp_path / "p", {"MLproject": "name: p\n", "data.txt": "payload\n"})
    archive = pack_project(root, tmp_path / "out")
    script = tmp_path / "boot.py"
    script.write_bytes(bootstrap.source())  # what a target uploads, run as a plain file
    command = ('cat data.txt; echo "run=$TRACKBRIDGE_RUN_ID"; cat "$TRACKBRIDGE_CONFIG"; '
               'echo "python=$(command -v python)"; echo oops >&2; exit 3')
    proc = subprocess.run(
        [sys.executable, str(script), "--archive", str(archive.path), "--config-toml",
         'backend = "local"\n[local]\npath = "${TRACKBRIDGE_JOB_DIR}/tbruns"\n', "--run-id",
         "abc123", "--", command], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 3
    assert proc.stdout.splitlines()[:2] == ["payload", "run=abc123"]
    assert 'path = "${TRACKBRIDGE_JOB_DIR}/tbruns"' in proc.stdout  # resolved by the reader
    assert f"python={Path(sys.executable).parent}/python" in proc.stdout
    # one log (what a platform keeps): the command's stderr lines marked, the exit code last
    assert proc.stderr == ""
    assert "[stderr] oops\n" in proc.stdout
    assert proc.stdout.endswith("[stderr] trackbridge: the command exited with code 3\n")
    streams, code = read_log(proc.stdout.encode())
    assert streams["stderr"] == b"oops\ntrackbridge: the command exited with code 3\n"
    assert b"oops" not in streams["stdout"] and code == 3


def read_log(log: bytes, step: int = 0) -> tuple[dict[str, bytes], int | None]:
    """What the client makes of a job's log: fed whole, or as snapshots growing by ``step``
    bytes (a platform's log read while being written, lines cut anywhere)."""
    from trackbridge.projects.remote import JobLog

    job_log, streams = JobLog(), {"stdout": b"", "stderr": b""}
    for end in [*range(step, len(log), step), len(log)] if step else [len(log)]:
        job_log.feed(log[:end])
        for name, data in job_log.take().items():
            streams[name] += data
    job_log.close()
    for name, data in job_log.take().items():
        streams[name] += data
    return streams, job_log.exit_code()


def run_bootstrap(tmp_path, command, *args, env=None, timeout=60):
    return subprocess.run([sys.executable, bootstrap.__file__, "--project-dir", str(tmp_path),
                           *args, "--", command], capture_output=True, timeout=timeout,
                          env={"PATH": os.environ["PATH"], **(env or {})})


def test_bootstrap_keeps_stdout_and_stderr_apart_in_one_log_and_loses_no_partial_line(tmp_path):
    command = ('printf "out 1\\n[stderr] a stdout line that looks marked\\n"; '
               'printf "err 1\\nerr 2" >&2; sleep 1; printf " continued\\n" >&2; '
               'printf "10%%\\r20%%\\r"; printf "no newline at the end" >&2; printf last')
    proc = run_bootstrap(tmp_path, command)
    assert proc.returncode == 0 and proc.stderr == b""
    log = proc.stdout
    assert b"[stderr] err 1\n" in log  # readable in the platform's log view
    assert b"[stdout] [stderr] a stdout line that looks marked\n" in log  # escaped
    assert b"[stderr+] err 2\n" in log  # a piece, written while the rest was awaited
    for step in (0, 1, 7, 64):
        streams, code = read_log(log, step)
        assert streams["stdout"] == b"out 1\n[stderr] a stdout line that looks marked\n10%\r20%\rlast"
        assert streams["stderr"] == (b"err 1\nerr 2 continued\nno newline at the end"
                                     b"trackbridge: the command exited with code 0\n")
        assert code == 0


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_log_marks_round_trip(stream):
    for data in (b"plain\n", b"[stderr] x\n", b"[stdout] y\n", b"[stderr+] z\n", b"[std\n"):
        assert bootstrap.decode(bootstrap.encode(stream, data)) == (stream, data)
        assert bootstrap.decode(bootstrap.encode(stream, data[:-1], part=True)) == \
            (stream, data[:-1])
    assert bootstrap.decode(b"a platform's own line\n") == ("stdout", b"a platform's own line\n")


SIGINT_AWARE = """
import sys, time
print("ready", flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    print("interrupted: ending the run", flush=True)
    time.sleep(1.0)  # sending what was logged
    print("flushed", flush=True)
    raise
"""


def test_a_cancelled_job_gets_sigint_and_time_to_end_its_run(tmp_path):
    """A platform stops a job with SIGTERM: the command gets SIGINT (a Python script's
    `with tb.start_run()` ends the run KILLED and sends what it logged), not a SIGTERM that
    kills it on the spot."""
    import signal

    (tmp_path / "job.py").write_text(SIGINT_AWARE)
    proc = subprocess.Popen([sys.executable, bootstrap.__file__, "--project-dir", str(tmp_path),
                             "--", f"{sys.executable} job.py"], stdout=subprocess.PIPE,
                            env={"PATH": os.environ["PATH"]}, start_new_session=True)
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    with proc.stdout:
        out = proc.stdout.read()
    assert proc.wait(timeout=30) == 130
    streams, code = read_log(out)
    assert streams["stdout"] == b"interrupted: ending the run\nflushed\n" and code == 130
    assert streams["stderr"].endswith(b"KeyboardInterrupt\n"
                                      b"trackbridge: the command exited with code 130\n")


def test_a_command_that_ignores_sigint_is_terminated_after_the_grace_period(tmp_path):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, bootstrap.__file__, "--project-dir", str(tmp_path),
                             "--grace", "0.5", "--", 'trap "" INT; echo ready; sleep 30 & wait'],
                            stdout=subprocess.PIPE, env={"PATH": os.environ["PATH"]},
                            start_new_session=True)
    assert proc.stdout.readline() == b"ready\n"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    with proc.stdout:
        out = proc.stdout.read()
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert 0.4 < time.monotonic() - started < 10
    assert out.endswith(b"trackbridge: the command exited with code 143\n")


def test_processes_the_command_left_holding_its_output_are_stopped(tmp_path):
    import time

    started = time.monotonic()
    proc = run_bootstrap(tmp_path, 'sleep 60 & echo "left $!"')
    assert proc.returncode == 0 and time.monotonic() - started < 20
    streams, _ = read_log(proc.stdout)
    pid = int(streams["stdout"].split()[1])
    assert b"trackbridge: stopping the processes the command left running\n" in streams["stderr"]
    try:  # gone, or a zombie nobody reaps (bash, its parent, is gone)
        assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        pass


JOURNAL_SCRIPT = """
import os, trackbridge as tb
journal = os.path.join(os.environ["TRACKBRIDGE_JOB_DIR"], "tbruns")
print("scratch", os.environ["TRACKBRIDGE_JOB_DIR"], flush=True)
with tb.start_run(experiment="e", config={"local": {"path": journal}}) as run:
    for step in range(3):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    print("run", run.id, flush=True)
"""


def test_the_jobs_journal_is_synced_before_the_scratch_directory_goes(tmp_path):
    """The script journalled a run the tracking service never got (here: nothing mirrored
    it): the bootstrap sends it, then removes the scratch directory."""
    (tmp_path / "job.py").write_text(JOURNAL_SCRIPT)
    service = tmp_path / "service"  # stands for the tracking service: a store of its own
    proc = run_bootstrap(tmp_path, f"{sys.executable} job.py", "--config-toml",
                         f'backend = "local"\n[local]\npath = "{service}"\n',
                         env={"PYTHONPATH": os.environ.get("PYTHONPATH", "")}, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fields = dict(line.split(" ", 1) for line in proc.stdout.decode().splitlines()
                  if line.startswith(("scratch ", "run ")))
    assert not Path(fields["scratch"]).exists()  # nothing unsent: removed
    (synced,) = LocalBackend(service).search_runs([LocalBackend(service).get_or_create_experiment(
        "e").id])
    assert [p.value for p in LocalBackend(service).get_metric_history(synced.id, "loss")] == \
        [1.0, 0.5, 1.0 / 3]


def test_a_journal_that_cannot_be_sent_is_kept_and_said_how_to_send_it(tmp_path):
    (tmp_path / "job.py").write_text(JOURNAL_SCRIPT)
    # the "service" is the journal itself: sync refuses (source and destination are the same)
    proc = run_bootstrap(tmp_path, f"{sys.executable} job.py", "--config-toml",
                         'backend = "local"\n[local]\npath = "${TRACKBRIDGE_JOB_DIR}/tbruns"\n',
                         env={"PYTHONPATH": os.environ.get("PYTHONPATH", "")}, timeout=120)
    assert proc.returncode == 0
    out = proc.stdout.decode()
    scratch = next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("scratch "))
    try:
        assert Path(scratch, "tbruns", "trackbridge.db").is_file()  # kept
        (line,) = [line for line in out.splitlines() if "journal" in line]
        assert line.startswith(f"[stderr] trackbridge: the job's journal {scratch}/tbruns may hold "
                               f"data the tracking service has not received (")
        assert f"-m trackbridge sync --from {scratch}/tbruns --to {scratch}/config.toml" in line
    finally:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def _wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel (installable offline)."""
    directory.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    files = {f"{name}.py": "VALUE = 42\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for n, text in files.items():
            zf.writestr(n, text)
    return path


def test_bootstrap_require_installs_only_what_is_missing_or_another_version(tmp_path):
    from importlib.metadata import version

    fake_pip = tmp_path / "fakepip"  # `python -m pip` finds this one first: it records calls
    (fake_pip / "pip").mkdir(parents=True)
    (fake_pip / "pip" / "__init__.py").write_text("")
    (fake_pip / "pip" / "__main__.py").write_text(
        f"import sys\nopen({str(tmp_path / 'pip-called')!r}, 'w').write(' '.join(sys.argv))\n")
    path = os.pathsep.join([str(fake_pip), os.environ.get("PYTHONPATH", "")])
    satisfied = [f"trackbridge=={version('trackbridge')}",
                 f"trackbridge-azureml=={version('trackbridge-azureml')}"]
    proc = run_bootstrap(tmp_path, "echo ran", "--require", satisfied[0], "--require",
                         satisfied[1], env={"PYTHONPATH": path})
    assert proc.returncode == 0 and proc.stdout.startswith(b"ran\n")
    assert b"installing" not in proc.stdout and not (tmp_path / "pip-called").exists()
    assert bootstrap.unsatisfied(satisfied) == []
    assert bootstrap.unsatisfied(["trackbridge==0.0.1", "no-such-dist==1"]) == [
        ("trackbridge==0.0.1", version("trackbridge")), ("no-such-dist==1", None)]

    wheels, site = tmp_path / "wheels", tmp_path / "site"
    _wheel(wheels, "tbdep", "0.2")
    proc = run_bootstrap(tmp_path, 'python -c "import tbdep; print(tbdep.VALUE, tbdep.__file__)"',
                         "--require", "tbdep==0.2", timeout=180, env={
                             "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels),
                             "PIP_TARGET": str(site), "PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == f"[stderr] trackbridge: installing tbdep==0.2 (missing) with {sys.executable} -m pip"
    assert lines[1] == f"42 {site / 'tbdep.py'}"


def test_bootstrap_says_what_pip_could_not_install_and_runs_nothing(tmp_path):
    proc = run_bootstrap(tmp_path, "echo ran", "--require", "tbdep==0.2", timeout=180,
                         env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path),
                              "PIP_TARGET": str(tmp_path / "site")})
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert "ran" not in out.splitlines()
    assert out.splitlines()[-1] == ("[stderr] trackbridge: pip could not install tbdep==0.2: give "
                                    "the job's environment these versions, or let it reach the "
                                    "package index")


def test_bootstrap_takes_the_run_id_from_the_platforms_variable(tmp_path):
    proc = subprocess.run(
        [sys.executable, bootstrap.__file__, "--project-dir", str(tmp_path), "--run-id-env",
         "MLFLOW_RUN_ID", "--", 'echo "$TRACKBRIDGE_RUN_ID $PWD"'],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                         "MLFLOW_RUN_ID": "job-7"})
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0] == f"job-7 {tmp_path}"


def test_exit_code_is_read_from_the_last_marker_only():
    assert exit_code_from_log("no marker\n") is None
    text = ("trackbridge: the command exited with code 1\n"
            "trackbridge: the command exited with code x\n"
            "trackbridge: the command exited with code 7\n")
    assert exit_code_from_log(text) == 7


# -- incremental logs ---------------------------------------------------------------------
def test_log_tail_hands_out_each_byte_once_even_when_the_window_slides():
    tail = LogTail()
    assert tail.update(None) == b""
    assert tail.update("a\nb\n") == b"a\nb\n"
    assert tail.update("a\nb\n") == b""
    assert tail.update("a\nb\nc\n") == b"c\n"
    lines = "".join(f"line {i}\n" for i in range(2000))
    tail = LogTail()
    assert tail.update(lines[:5000]) == lines[:5000].encode()
    # the platform keeps only the last part: the start slid away, new lines came
    assert tail.update(lines[3000:9000]) == lines[5000:9000].encode()
    assert tail.total == 9000


# -- wheels of the installed code ---------------------------------------------------------
def test_a_wheel_of_installed_trackbridge_installs_and_imports_offline(tmp_path):
    from importlib.metadata import version

    from trackbridge.projects.wheels import build_wheel

    wheel = build_wheel("trackbridge", tmp_path / "w")
    again = build_wheel("trackbridge", tmp_path / "w2")
    assert wheel.sha256 == again.sha256  # the same code is the same bytes
    assert wheel.filename == f"trackbridge-{version('trackbridge')}-py3-none-any.whl"
    with zipfile.ZipFile(wheel.path) as zf:
        names = zf.namelist()
    assert "trackbridge/projects/bootstrap.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(target), str(wheel.path)], check=True, timeout=120)
    out = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
                          " import trackbridge; print(trackbridge.__file__, trackbridge.__version__)",
                          str(target)], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == [str(target / "trackbridge" / "__init__.py"),
                                  version("trackbridge")]


# -- a journal attaching to a run that exists only remotely -------------------------------
def test_a_remote_only_run_is_attached_and_only_new_data_is_sent(tmp_path):
    from trackbridge.sync import SyncPlan
    from trackbridge.sync.attach import journal_run_id
    from trackbridge.sync.engine import SOURCE_RUN_TAG

    remote = LocalBackend(tmp_path / "remote")  # stands for the tracking backend
    journal = LocalBackend(tmp_path / "journal")  # the job machine's empty journal
    exp = remote.get_or_create_experiment("e")
    made = remote.create_run(exp.id, run_name="r", start_time=1,
                             tags={"team": "ml", SOURCE_RUN_TAG: "the-client-run"})
    remote.log_batch(made.id, params=[Param("alpha", "0.5")])
    with pytest.raises(RunNotFoundError):
        journal_run_id(journal, remote, "0" * 32)

    assert journal_run_id(journal, remote, made.id) == made.id
    assert journal_run_id(journal, remote, made.id) == made.id  # again: the same journal run
    local = journal.get_run(made.id)
    assert (local.name, local.experiment, local.params) == ("r", "e", {"alpha": "0.5"})
    journal.log_batch(made.id, metrics=[Metric("loss", 0.1, 5, 0)], tags=[RunTag("stage", "x")])
    report = SyncPlan(source=journal, destination=remote, ledger_store=journal).engine() \
        .sync_run(made.id)
    assert report.remote_run_id == made.id and not report.created
    assert (report.points, report.params, report.tags) == (1, 0, 1)  # only what is new
    got = remote.get_run(made.id)
    assert got.tags[SOURCE_RUN_TAG] == "the-client-run"  # still names the run that made it
    assert got.tags["stage"] == "x" and got.metrics == {"loss": 0.1}
    assert [r.id for r in remote.search_runs([exp.id])] == [made.id]


# -- the registry and the command line ----------------------------------------------------
def test_targets_are_plugins_the_local_one_included():
    classes = target_classes()
    assert {"local", "databricks", "azureml"} <= set(classes)
    assert classes["local"].__module__ == "trackbridge.projects.local"


def test_target_options_are_checked(store, tmp_path):
    project = write_tree(tmp_path / "p", {"MLproject": "name: p\nentry_points:\n  main:\n"
                                                 "    command: \"echo hi\"\n"})
    run = CliRunner().invoke
    result = run(cli, ["run", str(project), "--on", "nowhere"])
    assert result.exit_code != 0
    assert "unknown --on target 'nowhere'; installed targets: azureml, databricks, local" \
        in result.output
    result = run(cli, ["run", str(project), "--on-config", str(tmp_path / "x.toml")])
    assert "--on-config is for remote targets" in result.output
    result = run(cli, ["run", str(project), "--detach"])
    assert "--detach needs a remote --on target" in result.output
    bad = tmp_path / "c.toml"
    bad.write_text("[databricks]\nupload_to = \"/Volumes/a/b/c\"\nserverless = true\n[extra]\n")
    result = run(cli, ["run", str(project), "-b", "databricks", "--backend-config", str(bad)])
    assert "unknown table(s) extra for --on databricks; valid table: [databricks]" in result.output
    good = tmp_path / "good.toml"
    good.write_text("[databricks]\nupload_to = \"/Volumes/a/b/c\"\nserverless = true\n")
    result = run(cli, ["run", str(project), "--on", "databricks", "--env-manager", "venv",
                       "--on-config", str(good)])
    assert "--env-manager applies to --on local only" in result.output


def test_the_shipped_compute_configs_are_valid():
    from trackbridge.config import load_config
    from trackbridge.projects.targets import open_target

    root = Path(__file__).resolve().parents[1] / "configs"
    dbx = load_config({"backend": "databricks", "databricks": {"host": "https://adb-1.2.net"}})
    settings = open_target("databricks", dbx, root / "databricks-compute.toml").settings
    assert (settings.compute, settings.upload_to) == ("serverless",
                                                      "/Volumes/main/ml/projects/trackbridge")
    aml = load_config({"backend": "azureml", "azureml": {
        "tracking_uri": "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s/"
                        "resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w"}})
    assert open_target("azureml", aml, root / "azureml-compute.toml").settings.compute == \
        "cpu-cluster"


def _option(text: str) -> tuple[str | None, str | None] | None:
    """(table, None) for a TOML table header, (None, key) for one ``key = value`` line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    if text.startswith("["):
        return text.strip().strip("[]").strip(), None
    return (None, next(iter(data))) if len(data) == 1 else None


def uncomment_as_a_user_would(text: str, table: str, choice: str, choices: tuple) -> str:
    """Every commented option of ``text`` uncommented, except those of the compute choices
    other than ``choice`` (which are commented out); a key given again replaces the earlier
    line, as a user switching e.g. upload_to does."""
    kept: list[tuple[str, str, str | None]] = []  # (line, table, key)
    section = table
    for raw in text.splitlines():
        body = raw.lstrip("#").strip()
        parsed = _option(body) if body else None
        if parsed is None:
            kept.append((raw, section, None))
            continue
        header, key = parsed
        section = header or section
        group = section.split(".", 1)[1] if "." in section else key
        if group in choices and group != choice:
            kept.append((f"# {body}", section, None))
            continue
        if key is not None:
            kept = [k for k in kept if k[1:] != (section, key)]
        kept.append((body, section, key))
    return "\n".join(line for line, _, _ in kept) + "\n"


@pytest.mark.parametrize("target", ["databricks", "azureml"])
def test_every_commented_option_of_the_shipped_compute_configs_works_once_uncommented(tmp_path,
                                                                                     target):
    from trackbridge.config import load_config
    from trackbridge.projects.targets import open_target

    path = Path(__file__).resolve().parents[1] / "configs" / f"{target}-compute.toml"
    tracking = load_config({"backend": "databricks", "databricks": {"host": "https://adb-1.2.net"}}
                           if target == "databricks" else {"backend": "azureml"})
    choices = {"databricks": ("serverless", "new_cluster", "existing_cluster_id"),
               "azureml": ("compute", "instance_type")}[target]
    text = path.read_text()
    for choice in choices:
        edited = tmp_path / f"{choice}.toml"
        edited.write_text(uncomment_as_a_user_would(text, target, choice, choices))
        opened = open_target(target, tracking, edited)  # no key fell into the wrong table
        table = tomllib.loads(edited.read_text())[target]
        # every setting is documented, and lands in [<target>] once uncommented
        assert set(table) == (opened.config_keys - set(choices)) | {choice}


def test_a_signal_is_counted_never_raised_and_cuts_a_sleep_short():
    """Raising from the handler could strike inside a lock, an HTTP client or a queue and
    break it ("release unlocked lock" was seen): signals only set a flag that waits check."""
    import signal
    import threading
    import time

    from trackbridge.projects.process import Interrupts

    with Interrupts() as interrupts:
        threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGTERM)).start()
        started = time.monotonic()
        threading.Event().wait(0.6)  # a lock-based wait the signal lands in: it must not break
        assert interrupts.signum == signal.SIGTERM and interrupts.count == 1
        interrupts.sleep(30, lambda: interrupts.signum is not None)  # returns at once
        interrupts.sleep(0.2, lambda: False)  # sleeps its time when not told to stop
    assert 0.8 <= time.monotonic() - started < 5
