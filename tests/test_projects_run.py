"""``trackbridge run`` end to end: one run per project run, params, tags, the script's metrics,
status and exit code from the command, output saved, Ctrl-C, no orphans, the venv cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import trackbridge as tb
from trackbridge.cli import cli
from trackbridge.projects.envs import READY_MARKER
from trackbridge.projects.process import terminate_group

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sklearn_project"

ATTACH = """
import os, sys, trackbridge as tb
with tb.start_run() as run:
    run.log_metric("m", 1.5)
    run.log_param("from_script", "yes")
    print("child run", run.id, "pid", os.getpid(), flush=True)
"""


@pytest.fixture
def config(store, tmp_path, monkeypatch):
    """A config file on the test's store; no run id or cache leaking in from outside."""
    monkeypatch.delenv("TRACKBRIDGE_RUN_ID", raising=False)
    monkeypatch.setenv("TRACKBRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "tb.toml"
    path.write_text(f'experiment = "projects"\n[local]\npath = "{store["local"]["path"]}"\n'
                    f'flush_interval = 0.05\n')
    return path


def trackbridge_run(config, *args):
    result = CliRunner().invoke(cli, ["run", *map(str, args), "--config", str(config)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def only_run(config):
    runs = tb.search_runs(config=config)
    assert len(runs) == 1, [(r.id, r.name) for r in runs]
    return runs[0]


def artifact(run_id, path, config, tmp_path):
    return Path(tb.download_artifacts(run_id, path, tmp_path / "dl", config=config)).read_text()


def project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def gone(pid: int) -> bool:
    """The process is gone (a zombie waiting for a reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def wait_for(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().endswith("\n"):
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear in {timeout}s")


# -- the example project -----------------------------------------------------------------
def test_example_main_logs_one_run(config, tmp_path):
    result = trackbridge_run(config, EXAMPLE, "-P", "C=0.5", "-P", "dataset=wine",
                             "--experiment", "sk", "--run-name", "wine-c05")
    assert result.exit_code == 0, result.output
    run = only_run(config)  # the script's tb.start_run() attached: one run, not two
    assert (run.status, run.experiment, run.name) == ("FINISHED", "sk", "wine-c05")
    assert run.params == {  # logged by trackbridge run, then (same values) by the script
        "dataset": "wine", "C": "0.5", "max_iter": "500", "test_size": "0.25", "seed": "7",
        "min_accuracy": "0.0", "n_train": "133", "n_features": "13"}
    assert 0.8 < run.metrics["test_accuracy"] <= 1.0 and "train_f1_macro" in run.metrics
    command = ("python train.py --dataset wine --C 0.5 --max-iter 500 --test-size 0.25 --seed 7 "
               "--min-accuracy 0.0")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    assert {k: run.tags.get(k) for k in (
        "trackbridge.project.name", "trackbridge.project.entry_point",
        "trackbridge.project.command", "trackbridge.project.env_manager",
        "mlflow.source.git.commit", "mlflow.source.type")} == {
        "trackbridge.project.name": "sklearn_example", "trackbridge.project.entry_point": "main",
        "trackbridge.project.command": command, "trackbridge.project.env_manager": "local",
        "mlflow.source.git.commit": head, "mlflow.source.type": "PROJECT"}
    assert run.tags["trackbridge.project.git_dirty"] in ("true", "false")
    line = f"run {run.id}: test accuracy"
    assert line in result.stdout  # streamed to the terminal ...
    assert line in artifact(run.id, "logs/stdout.txt", config, tmp_path)  # ... and saved
    assert f"trackbridge: run {run.id} FINISHED" in result.stderr


def test_example_failing_command_fails_the_run_with_its_exit_code(config, tmp_path):
    result = trackbridge_run(config, EXAMPLE, "-P", "min_accuracy=1.01")
    assert result.exit_code == 2
    run = only_run(config)
    # the script's `with` block ended the run FINISHED; the exit code decides: FAILED
    assert run.status == "FAILED" and "test_accuracy" in run.metrics
    assert "is below 1.01" in artifact(run.id, "logs/stderr.txt", config, tmp_path)
    assert "FAILED: the command exited with code 2" in result.stderr


def test_example_validate_entry_point(config):
    result = trackbridge_run(config, EXAMPLE, "-e", "validate", "-P", "folds=3")
    assert result.exit_code == 0, result.output
    run = only_run(config)
    assert run.params == {"dataset": "wine", "folds": "3", "C": "1.0"}
    history = tb.get_metric_history(run.id, "cv_accuracy", config=config)
    assert [p.step for p in history] == [0, 1, 2]
    assert run.tags["trackbridge.project.entry_point"] == "validate"


# -- status, exit code, attaching --------------------------------------------------------
@pytest.mark.parametrize(("script", "code", "status"), [
    ("echo ok", 0, "FINISHED"),
    ("echo bad >&2; exit 7", 7, "FAILED"),
    ("kill -KILL $$", 128 + 9, "FAILED"),  # killed by a signal: 128 + N, like a shell
])
def test_exit_code_sets_status(config, tmp_path, script, code, status):
    root = project(tmp_path / "p", {"job.sh": script})
    result = trackbridge_run(config, root, "-e", "job.sh")
    assert result.exit_code == code, result.output
    run = only_run(config)
    assert run.status == status
    assert run.tags["trackbridge.project.command"] == "bash job.sh"


def test_script_attaches_to_the_run_and_its_environment(config, tmp_path):
    root = project(tmp_path / "p", {"job.py": ATTACH + textwrap.dedent("""
        print("config", os.environ["TRACKBRIDGE_CONFIG"])
        print("cwd", os.getcwd())
        print("python", sys.executable)
        print("args", sys.argv[1:])
    """)})
    result = trackbridge_run(config, root, "-e", "job.py", "-P", "lr=0.1", "-P", "msg=a b")
    assert result.exit_code == 0, result.output
    run = only_run(config)
    assert f"child run {run.id}" in result.stdout
    assert run.params == {"lr": "0.1", "msg": "a b", "from_script": "yes"}
    assert run.metrics == {"m": 1.5} and run.status == "FINISHED"
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert Path(lines["config"]).is_absolute()
    assert lines["cwd"] == str(root)  # the command runs in the project directory
    assert Path(lines["python"]).parent == Path(sys.executable).parent  # env manager local
    assert lines["args"] == "['--lr', '0.1', '--msg', 'a b']"


def test_only_the_first_top_level_start_run_of_the_script_attaches(config, tmp_path):
    """A sweep script under `trackbridge run`: its first run is the project's run, the next
    ones are new runs (MLflow consumes MLFLOW_RUN_ID the same way); nested ones nest."""
    root = project(tmp_path / "p", {"sweep.py": """
        import os, trackbridge as tb
        for lr in (0.1, 0.01, 0.001):
            with tb.start_run() as run:
                run.log_param("lr", lr)
                with tb.start_run(nested=True) as child:
                    child.log_param("fold", 1)
                print("run", run.id, flush=True)
        print("env", os.environ.get("TRACKBRIDGE_RUN_ID"), flush=True)
    """})
    result = trackbridge_run(config, root, "-e", "sweep.py")
    assert result.exit_code == 0, result.output
    ids = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("run ")]
    assert len(set(ids)) == 3
    runs = {r.id: r for r in tb.search_runs(config=config)}
    assert len(runs) == 6
    project_run = runs[ids[0]]
    assert project_run.tags["trackbridge.project.entry_point"] == "sweep.py"
    assert [runs[i].params["lr"] for i in ids] == ["0.1", "0.01", "0.001"]
    assert all("trackbridge.project.entry_point" not in runs[i].tags for i in ids[1:])
    children = [r for r in runs.values() if r.parent_run_id]
    assert sorted(r.parent_run_id for r in children) == sorted(ids)
    assert "env None" in result.stdout  # consumed: a process the script starts does not attach


NASTY = ["$(touch {marker})", "`touch {marker}`", "'; touch {marker}; '", '"; touch {marker}; "',
         "$HOME", "a\\b", "it's", 'say "hi"', "\\", "x\n touch {marker}", ""]


@pytest.mark.parametrize("template", [
    "echo msg={msg}",
    'echo "msg={msg}"',
    "echo 'msg={msg}'",
    'echo "[{msg}]" | sed "s/^\\[//; s/\\]$//" | sed "s/^/msg=/"',
])
def test_parameter_values_are_never_run_as_shell_whatever_the_quoting(config, tmp_path, template):
    marker = tmp_path / "pwned"
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "MLproject").write_text(
        "name: q\nentry_points:\n  main:\n    parameters:\n      msg: {type: string}\n"
        f"    command: {json.dumps(template)}\n")
    for value in (v.format(marker=marker) for v in NASTY):
        result = trackbridge_run(config, tmp_path / "proj", "-P", f"msg={value}")
        assert result.exit_code == 0, result.output
        assert not marker.exists(), (template, value)
        if "\n" not in value:
            assert result.stdout.splitlines()[-1] == f"msg={value}", (template, value)


@pytest.mark.parametrize("template", ['python -c "$(echo {msg})"', "echo `echo {msg}`",
                                      "echo ${{X:-{msg}}}", "echo $'{msg}'"])
def test_a_placeholder_the_shell_would_reparse_is_refused_naming_the_entry_point(
        config, tmp_path, template):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "MLproject").write_text(
        "name: q\nentry_points:\n  go:\n    parameters:\n      msg: {type: string}\n"
        f"    command: {json.dumps(template)}\n")
    result = trackbridge_run(config, tmp_path / "proj", "-e", "go", "-P", "msg=hi")
    assert result.exit_code != 0
    assert "entry point 'go'" in result.output and "{msg}" in result.output
    assert tb.search_runs(config=config) == []  # refused before any run was made


def test_run_is_not_reported_killed_while_trackbridge_run_holds_it(config, tmp_path,
                                                                   monkeypatch):
    """The script's start_run makes the script the run's writer. When the script is gone
    (here: it never ends its run), readers must not judge the run dead while trackbridge
    run is still saving the logs: it takes the run back first."""
    root = project(tmp_path / "p", {"job.py": """
        import os, trackbridge as tb
        run = tb.start_run()
        run.log_metric("m", 1.0)
        run.flush()
        os._exit(0)  # no end(): the run is left RUNNING with this (dead) pid as its writer
    """})
    seen = []
    original = tb.ActiveRun.log_artifact

    def log_artifact(self, local_path, artifact_path=None):
        seen.append(tb.get_run(self.id, config=config).status)  # a reader, mid-way
        original(self, local_path, artifact_path)

    monkeypatch.setattr(tb.ActiveRun, "log_artifact", log_artifact)
    result = trackbridge_run(config, root, "-e", "job.py")
    assert result.exit_code == 0, result.output
    assert seen == ["RUNNING", "RUNNING"]
    run = only_run(config)
    assert (run.status, run.metrics) == ("FINISHED", {"m": 1.0})


def test_git_commit_and_dirty_state(config, tmp_path):
    root = project(tmp_path / "repo", {"job.sh": "echo hi", "MLproject": """
        name: gitproj
        entry_points:
          main: {command: "bash job.sh"}
    """})
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run([*git, *args], cwd=root, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                          text=True).stdout.strip()
    (root / "untracked.txt").write_text("outputs do not make a checkout dirty")
    assert trackbridge_run(config, root, "--run-name", "clean").exit_code == 0
    (root / "job.sh").write_text("echo changed")
    assert trackbridge_run(config, root, "--run-name", "dirty").exit_code == 0
    runs = {r.name: r for r in tb.search_runs(config=config)}
    for name, dirty in (("clean", "false"), ("dirty", "true")):
        assert runs[name].tags["mlflow.source.git.commit"] == head
        assert runs[name].tags["trackbridge.project.git_dirty"] == dirty
        assert runs[name].tags["trackbridge.project.name"] == "gitproj"


def test_project_outside_git_has_no_commit_tag(config, tmp_path):
    root = project(tmp_path / "p", {"job.sh": "true"})
    assert trackbridge_run(config, root, "-e", "job.sh").exit_code == 0
    tags = only_run(config).tags
    assert "mlflow.source.git.commit" not in tags and "trackbridge.project.git_dirty" not in tags


def test_nested_trackbridge_run_is_a_child_run(config, tmp_path):
    inner = project(tmp_path / "inner", {"job.py": ATTACH})
    outer = project(tmp_path / "outer", {"sweep.sh": f"""
        set -e
        for lr in 0.1 0.2; do
          "{sys.executable}" -m trackbridge run "{inner}" -e job.py -P lr=$lr
        done
    """})
    result = trackbridge_run(config, outer, "-e", "sweep.sh", "--experiment", "sweep")
    assert result.exit_code == 0, result.output
    runs = tb.search_runs("sweep", config=config)
    parent = next(r for r in runs if r.parent_run_id is None)
    children = [r for r in runs if r.parent_run_id == parent.id]
    assert len(runs) == 3 and sorted(r.params["lr"] for r in children) == ["0.1", "0.2"]
    assert all(r.metrics == {"m": 1.5} and r.status == "FINISHED" for r in children)


# -- Ctrl-C and orphans ------------------------------------------------------------------
SLEEPER = """
import os, subprocess, sys, time, trackbridge as tb
run = tb.start_run()
run.log_metric("started", 1.0)
run.flush()
grandchild = subprocess.Popen(["sleep", "60"])
with open(sys.argv[2], "w") as f:
    f.write(f"{os.getpid()} {grandchild.pid} {run.id}\\n")
time.sleep(60)
"""


def interrupt_project(config, tmp_path, script, signum):
    """Run ``script`` with ``trackbridge run`` in a subprocess; once it wrote its pid file,
    send ``signum``. Returns the process, the pid file's fields and trackbridge's stderr."""
    root = project(tmp_path / "p", {"job.py": script})
    pids = tmp_path / "pids"
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackbridge", "run", str(root), "-e", "job.py",
         "-P", f"pidfile={pids}", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        fields = wait_for(pids).split()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc, fields, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_kills_the_run_and_leaves_no_process(config, tmp_path, signum):
    proc, (child, grandchild, run_id), err = interrupt_project(config, tmp_path, SLEEPER, signum)
    assert proc.returncode == 128 + signum, err
    assert f"run {run_id} KILLED: interrupted ({signal.Signals(signum).name})" in err
    run = tb.get_run(run_id, config=config)
    assert run.status == "KILLED" and run.metrics == {"started": 1.0}
    assert gone(int(child)) and gone(int(grandchild))
    assert "logs/stdout.txt" in {a.path for a in tb.list_artifacts(run_id, "logs", config=config)}


def test_processes_left_behind_by_the_command_are_stopped(config, tmp_path):
    root = project(tmp_path / "p", {"bg.sh": 'sleep 60 &\necho "$!" > "$2"\n'})
    started = time.monotonic()
    result = trackbridge_run(config, root, "-e", "bg.sh", "-P", f"pidfile={tmp_path / 'pid'}")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 4  # not stuck on the pipe the sleeper held open
    assert gone(int((tmp_path / "pid").read_text()))
    assert "stopped 1 process(es) the command left running" in result.stderr
    assert only_run(config).status == "FINISHED"


def test_terminate_group_escalates_to_sigkill():
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ok', " \
           "flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout.readline() == b"ok\n"
    started = time.monotonic()
    assert terminate_group(proc, grace=0.5) == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 5
    proc.stdout.close()


# -- venv --------------------------------------------------------------------------------
VENV_MLPROJECT = """
name: venvproj
python_env: python_env.yaml
entry_points:
  main: {command: "python job.py"}
"""
VENV_JOB = ATTACH + """
print("prefix", sys.prefix)
"""


def prefix_of(result) -> Path:
    return Path(next(line.split(" ", 1)[1] for line in result.stdout.splitlines()
                     if line.startswith("prefix ")))


def test_venv_is_built_once_and_reused(config, tmp_path):
    root = project(tmp_path / "p", {"MLproject": VENV_MLPROJECT, "job.py": VENV_JOB,
                                    "python_env.yaml": "dependencies: []\n"})
    envs = tmp_path / "cache" / "envs"
    first = trackbridge_run(config, root, "--env-manager", "venv", "--run-name", "first")
    assert first.exit_code == 0, first.output
    venv = prefix_of(first)
    assert venv.parent == envs and "building virtualenv" in first.stderr
    marker = venv / READY_MARKER
    built = (marker.stat().st_mtime_ns, marker.read_text())

    second = trackbridge_run(config, root, "--env-manager", "venv", "--run-name", "second")
    assert second.exit_code == 0, second.output
    assert prefix_of(second) == venv and f"reusing cached virtualenv {venv}" in second.stderr
    assert "building" not in second.stderr
    assert (marker.stat().st_mtime_ns, marker.read_text()) == built  # not rebuilt
    runs = {r.name: r for r in tb.search_runs(config=config)}
    assert runs["second"].metrics == {"m": 1.5}  # trackbridge works inside the venv
    assert runs["second"].tags["trackbridge.project.env_manager"] == "venv"

    (root / "python_env.yaml").write_text("dependencies: []\n# changed\n")
    third = trackbridge_run(config, root, "--env-manager", "venv")
    assert third.exit_code == 0 and "building virtualenv" in third.stderr
    assert prefix_of(third) != venv and len([d for d in envs.iterdir() if d.is_dir()]) == 2


def _wheel(directory: Path) -> Path:
    """A minimal pure-Python wheel (installable offline)."""
    path = directory / "tbdep-0.1-py3-none-any.whl"
    info = "tbdep-0.1.dist-info"
    files = {
        "tbdep.py": "VALUE = 42\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: tbdep\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def test_venv_installs_the_dependencies(config, tmp_path):
    root = project(tmp_path / "p", {"MLproject": VENV_MLPROJECT, "job.py": VENV_JOB + """
import tbdep
print("dep", tbdep.VALUE, tbdep.__file__)
"""})
    wheel = _wheel(root)
    (root / "python_env.yaml").write_text(f"dependencies:\n  - ./{wheel.name}\n")
    result = trackbridge_run(config, root, "--env-manager", "venv")
    assert result.exit_code == 0, result.output
    venv = prefix_of(result)
    dep = next(line for line in result.stdout.splitlines() if line.startswith("dep "))
    assert dep.startswith("dep 42 ") and Path(dep.split()[2]).is_relative_to(venv)
    assert json.loads((venv / READY_MARKER).read_text())["requirements"] == [f"./{wheel.name}"]
    assert only_run(config).metrics == {"m": 1.5}


def test_concurrent_builders_of_one_venv_build_it_once(tmp_path):
    import threading

    from trackbridge.projects.envs import build_environment, select_environment
    from trackbridge.projects.spec import load_project

    root = project(tmp_path / "p", {"MLproject": VENV_MLPROJECT, "job.py": "",
                                    "python_env.yaml": "dependencies: []\npython: '2.7'\n"})
    env = select_environment(load_project(root), "venv", tmp_path / "cache")
    messages: list[str] = []
    threads = [threading.Thread(target=build_environment, args=(env, messages.append))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(m.startswith("building virtualenv") for m in messages) == 1, messages
    assert sum(m.startswith("reusing cached virtualenv") for m in messages) == 1, messages
    assert any("asks for Python 2.7; the venv uses the running Python" in m for m in messages)
    assert (env.directory / READY_MARKER).is_file() and env.python.exists()


BUFFERING_SLEEPER = """
import os, sys, time, trackbridge as tb
with tb.start_run() as run:
    run.log_metric("flushed", 1.0)
    run.flush()
    run.log_metric("still_buffered", 2.0)  # flush_interval is an hour: only the end writes it
    with open(sys.argv[2], "w") as f:
        f.write(f"{os.getpid()} {run.id}\\n")
    time.sleep(60)
"""


def test_ctrl_c_lets_the_script_end_its_run_and_flush(store, tmp_path):
    config = tmp_path / "slow-flush.toml"
    config.write_text(f'[local]\npath = "{store["local"]["path"]}"\nflush_interval = 3600\n')
    proc, (child, run_id), err = interrupt_project(config, tmp_path, BUFFERING_SLEEPER,
                                                   signal.SIGINT)
    assert proc.returncode == 130, err
    run = tb.get_run(run_id, config=config)
    assert run.status == "KILLED"
    assert run.metrics == {"flushed": 1.0, "still_buffered": 2.0}  # nothing buffered was lost
    assert gone(int(child))
