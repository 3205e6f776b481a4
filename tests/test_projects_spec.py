"""Projects without running anything: MLproject loading, parameter checks, quoting, the
config handed to the child, env-manager selection, ``--dry-run``."""

from __future__ import annotations

import math
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackbridge.cli import cli
from trackbridge.config import load_config
from trackbridge.projects import ProjectError
from trackbridge.projects.childconfig import write_child_config
from trackbridge.projects.envs import select_environment
from trackbridge.projects.params import parse_assignments, render_command, resolve_parameters
from trackbridge.projects.spec import load_project

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sklearn_project"

MLPROJECT = """
name: demo
entry_points:
  main:
    parameters:
      epochs: int
      lr: {type: float, default: 0.1}
      data: path
      name: {type: string, default: "a b"}
      out: {type: uri, default: outputs}
    command: "python train.py --epochs {epochs} --lr {lr} --data {data} --name {name} --out {out}"
  echo:
    parameters:
      text: string
    command: "printf '%s\\n' {text}"
"""


def make_project(root: Path, mlproject: str | None = MLPROJECT, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if mlproject is not None:
        (root / "MLproject").write_text(textwrap.dedent(mlproject))
    for name, text in files.items():
        (root / name.replace("__", ".")).write_text(text)
    return root


@pytest.fixture
def project(tmp_path):
    root = make_project(tmp_path / "proj")
    (tmp_path / "train.csv").write_text("x\n1\n")
    return load_project(root)


def resolve(project, cwd, entry="main", **given):
    return resolve_parameters(project.entry_point(entry), given, cwd=cwd,
                              project_dir=project.directory)


# -- parameter validation table ------------------------------------------------------------
@pytest.mark.parametrize(("name", "value", "expected"), [
    ("epochs", "3", "3"),
    ("epochs", "007", "7"),            # numbers are normalised: command, param and script agree
    ("epochs", "-2", "-2"),
    ("lr", "1e-3", "0.001"),
    ("lr", "1", "1.0"),
    ("lr", "-0.5", "-0.5"),
    ("name", "x; rm -rf /", "x; rm -rf /"),  # a string is taken as given (and quoted later)
    ("out", "s3://bucket/key", "s3://bucket/key"),
    ("out", "file:///tmp/x", "file:///tmp/x"),
])
def test_valid_values(project, tmp_path, name, value, expected):
    given = {"epochs": "1", "data": "train.csv", name: value}
    assert resolve(project, tmp_path, **given)[name] == expected


@pytest.mark.parametrize(("name", "value", "message"), [
    ("epochs", "3.5", "'epochs' must be an int, got '3.5'"),
    ("epochs", "ten", "'epochs' must be an int, got 'ten'"),
    ("epochs", "", "'epochs' must be an int, got ''"),
    ("lr", "fast", "'lr' must be a float, got 'fast'"),
    ("data", "missing.csv", "'data' is a path that does not exist: 'missing.csv'"),
    ("data", "", "'data' is a path that does not exist: ''"),
    ("out", "", "'out' must be a URI or a path"),
    ("bad;key", "1", "parameter name 'bad;key' may only use"),
])
def test_invalid_values(project, tmp_path, name, value, message):
    given = {"epochs": "1", "data": "train.csv", name: value}
    with pytest.raises(ProjectError, match="invalid parameters for entry point 'main'") as err:
        resolve(project, tmp_path, **given)
    assert message in str(err.value)


def test_all_missing_required_parameters_are_listed_in_one_error(project, tmp_path):
    with pytest.raises(ProjectError) as err:
        resolve(project, tmp_path, lr="x")
    text = str(err.value)
    assert "missing required parameter(s) 'epochs', 'data'" in text
    assert "'lr' must be a float" in text  # the other problems come in the same error
    assert "declared: epochs (int), lr (float), data (path)" in text


def test_defaults_paths_and_uris(project, tmp_path):
    values = resolve(project, tmp_path, epochs="2", data="train.csv")
    assert values == {
        "epochs": "2", "lr": "0.1", "data": str(tmp_path / "train.csv"), "name": "a b",
        "out": str(project.directory / "outputs"),  # a default is relative to the project
    }
    given = resolve(project, tmp_path, epochs="2", data=str(tmp_path / "train.csv"), out="o")
    assert given["out"] == str(tmp_path / "o")  # a given value is relative to the cwd


def test_values_are_quoted_for_the_shell(tmp_path):
    project = load_project(make_project(tmp_path / "p"))
    tricky = ["two words", "it's", 'say "hi"', "a; echo pwned", "$(id) `id` $HOME", "*", "{x}",
              "line\nbreak", ""]
    for value in tricky:
        command = render_command(project.entry_point("echo"), resolve(project, tmp_path, "echo",
                                                                      text=value))
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
        assert out.stdout == value + "\n", command


def test_unknown_parameters_are_appended_as_options(project, tmp_path):
    values = resolve(project, tmp_path, epochs="1", data="train.csv", extra="1",
                     **{"other.opt": "a b; c"})
    command = render_command(project.entry_point("main"), values)
    assert shlex.split(command)[-4:] == ["--extra", "1", "--other.opt", "a b; c"]
    assert shlex.split(command)[:4] == ["python", "train.py", "--epochs", "1"]


def test_parse_assignments():
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ProjectError, match="'a' must be written key=value"):
        parse_assignments(["a"])
    with pytest.raises(ProjectError, match="parameter 'a' is given twice"):
        parse_assignments(["a=1", "a=2"])


# -- MLproject ---------------------------------------------------------------------------
def test_example_project_loads():
    project = load_project(EXAMPLE)
    assert project.name == "sklearn_example" and project.env_kind == "python_env"
    assert set(project.entry_points) == {"main", "validate"}
    main = project.entry_point("main").parameters
    assert (main["C"].type, main["C"].default) == ("float", "1.0")
    assert (main["max_iter"].type, main["max_iter"].default) == ("int", "500")


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\npython_env: e.yaml\nconda_env: c.yaml\n",
     "declares python_env and conda_env; a project may declare at most one"),
    ("entry_points:\n  main:\n    parameters: {a: number}\n    command: run {a}\n",
     "parameter 'a' has unknown type 'number'; valid types: string, float, int, path, uri"),
    ("entry_points:\n  main:\n    command: run {a} {b}\n",
     "the command uses undeclared parameter(s) {a}, {b}"),
    ("entry_points:\n  main:\n    parameters: {a: int}\n",
     "entry point 'main' needs a 'command'"),
    ("python_env: missing.yaml\n", "python_env file 'missing.yaml' not found"),
    ("nme: typo\n", "unknown key(s) 'nme'"),
    ("- a list\n", "must be a YAML mapping"),
    ("entry_points: [oops\n", "is not valid YAML"),
])
def test_bad_mlproject(tmp_path, text, message):
    make_project(tmp_path, text)
    with pytest.raises(ProjectError) as err:
        load_project(tmp_path)
    assert message in str(err.value)


def test_entry_points_implicit_and_unknown(tmp_path):
    root = make_project(tmp_path / "p", None, fit__py="", run__sh="")
    project = load_project(root)
    assert project.name == "p" and project.entry_points == {}
    fit = project.entry_point("fit.py")
    assert render_command(fit, resolve_parameters(fit, {"lr": "0.1"}, cwd=tmp_path,
                                                  project_dir=root)) == "python fit.py --lr 0.1"
    assert project.entry_point("run.sh").command == "bash run.sh"
    with pytest.raises(ProjectError, match="no entry point 'main' .*declared: none"):
        project.entry_point("main")
    with pytest.raises(ProjectError, match="no entry point '../x.py'"):
        project.entry_point("../x.py")
    declared = load_project(make_project(tmp_path / "q"))
    with pytest.raises(ProjectError, match=r"no entry point 'trian' \(declared: echo, main"):
        declared.entry_point("trian")


# -- environments ------------------------------------------------------------------------
def test_conda_and_docker_projects_get_a_clear_error(tmp_path):
    conda = load_project(make_project(tmp_path / "c", "conda_env: conda.yaml\n", conda__yaml=""))
    docker = load_project(make_project(tmp_path / "d", "docker_env: {image: 'py:3.11'}\n"))
    for project, manager in ((conda, None), (conda, "venv"), (docker, None), (docker, "local"),
                             (docker, "venv")):
        with pytest.raises(ProjectError) as err:
            select_environment(project, manager)
        assert "env managers 'local' (the current interpreter) and 'venv'" in str(err.value)
    assert select_environment(conda, "local").python == Path(sys.executable)  # asked for
    with pytest.raises(ProjectError, match="unknown env manager 'conda'"):
        select_environment(conda, "conda")


def test_cli_reports_project_errors_in_one_line(store, tmp_path):
    make_project(tmp_path / "d", "docker_env: {image: 'py:3.11'}\n")
    make_project(tmp_path / "p")
    runner = CliRunner()
    docker = runner.invoke(cli, ["run", str(tmp_path / "d"), "-e", "x"])
    missing = runner.invoke(cli, ["run", str(tmp_path / "p"), "-P", "lr=0.2"])
    for result in (docker, missing):
        assert result.exit_code == 1
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "declares docker_env (image 'py:3.11')" in docker.stderr
    assert "missing required parameter(s) 'epochs', 'data'" in missing.stderr
    assert not (tmp_path / "tbruns").exists()  # nothing was created


# -- the config the child gets -----------------------------------------------------------
def test_child_config_round_trips(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    weird = 'quote " backslash \\ tab \t newline \n unicode é ✓ del \x7f'
    config = load_config({
        "experiment": "exp",
        "local": {"path": "rel/store", "flush_interval": 0.25},
        "databricks": {"host": "${DATABRICKS_HOST:-https://x}", "token": "${DB_TOKEN}",
                       "note": weird, "n": 3, "ok": True, "nan": math.nan, "list": [1, "a"],
                       "nested": {"a b": 1}},
    })
    written = write_child_config(config, tmp_path / "child.toml", experiment="other")
    assert written.stat().st_mode & 0o777 == 0o600
    assert "${DB_TOKEN}" in written.read_text()  # references stay references
    monkeypatch.chdir(tmp_path / "..")  # the child runs elsewhere: the store path is absolute
    loaded = load_config(written)
    assert loaded.experiment == "other" and loaded.backend == "local"
    assert loaded.local_path == tmp_path / "rel" / "store"
    assert loaded.local_settings()["flush_interval"] == 0.25
    table = dict(loaded.sections["databricks"])
    assert math.isnan(table.pop("nan"))
    assert table == {"host": "${DATABRICKS_HOST:-https://x}", "token": "${DB_TOKEN}",
                     "note": weird, "n": 3, "ok": True, "list": [1, "a"], "nested": {"a b": 1}}


# -- dry run -----------------------------------------------------------------------------
def test_dry_run_prints_the_command_and_runs_nothing(store, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKBRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(cli, ["run", str(EXAMPLE), "-P", "C=0.5", "-P", "note=a b",
                                      "--env-manager", "venv", "--dry-run"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert ("command:      python train.py --dataset iris --C 0.5 --max-iter 500 --test-size 0.25"
            " --seed 7 --min-accuracy 0.0 --note 'a b'\n") in out
    assert "parameters:   dataset=iris, C=0.5, max_iter=500" in out
    assert f"environment:  venv {tmp_path / 'cache' / 'envs'}" in out and "to be built" in out
    assert "TRACKBRIDGE_RUN_ID" in out and "TRACKBRIDGE_CONFIG" in out
    assert not (tmp_path / "tbruns").exists()
    assert not (tmp_path / "cache").exists()
