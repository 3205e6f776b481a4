"""What happens to runs a script leaves open when the interpreter exits; import cost."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from trackbridge.local.store import LocalBackend

SCRIPT = textwrap.dedent("""
    import sys, trackbridge as tb
    run = tb.start_run(config={{"local": {{"path": sys.argv[1], "flush_interval": 3600}}}})
    print(run.id, flush=True)
    for i in range(500):
        tb.log_metric("m", float(i), step=i)
    {ending}
""")


@pytest.mark.parametrize(("ending", "status", "code"), [
    ("pass", "FINISHED", 0),
    ("raise ValueError('bad data')", "FAILED", 1),
    ("raise KeyboardInterrupt", "KILLED", -2),  # Python re-raises SIGINT on exit
    ("sys.exit(0)", "FINISHED", 0),
])
def test_open_run_is_flushed_and_ended_at_exit(tmp_path, ending, status, code):
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(ending=ending), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == code, proc.stderr
    run_id = proc.stdout.split()[0]
    store = LocalBackend(tmp_path)
    assert store.get_run(run_id).status == status
    assert len(store.get_metric_history(run_id, "m")) == 500


def test_import_is_light():
    code = ("import sys, trackbridge; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pluggy', 'sqlite3', 'databricks', 'azure', 'mlflow', 'numpy', 'rich', 'click', 'sklearn', "
            "'xgboost', 'lightgbm', 'matplotlib', 'psutil', 'pynvml', 'pandas', 'PIL'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
