"""Shared data for the UI tests: a local store with what every page must show."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import trackbridge as tb

XSS_NAME = "<img src=x onerror=alert(1)>"
MARKUP_KEY = f"val/{XSS_NAME}"  # a metric key (the store takes any; the client API would not)
SPIKE_STEP, SPIKE_VALUE, DIP_STEP, DIP_VALUE = 3_331, 50.0, 4_440, -7.0
HTML_ARTIFACT = ("<html><head><title>artifact</title></head><body><p id=msg>static text</p><script>"
                 "try { parent.document.title = 'pwned'; } catch (e) {}"
                 "try { window.top.__pwned = 1; } catch (e) {}"
                 "document.getElementById('msg').textContent = 'script ran';</script></body></html>")
SVG_ARTIFACT = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><script>'
                'alert(1)</script><circle cx="20" cy="20" r="18" fill="#2b6cb0"/></svg>')
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0000003010100c9fe92ef0000000049454e44ae426082")


@dataclass
class Demo:
    config: dict
    root: Path
    parent: str
    children: list[str]
    xss: str
    other: str  # a run of another experiment


def loss(step: int) -> float:
    if step == SPIKE_STEP:
        return SPIKE_VALUE
    if step == DIP_STEP:
        return DIP_VALUE
    return 1.0 / (1 + step / 100) + 0.01 * math.sin(step)


def log_small_model(run) -> None:
    """A real scikit-learn model (MLmodel, signature, requirements), registered as 'churn'."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
    model = LogisticRegression().fit(x, [0, 1, 0, 1])
    run.log_model(model, name="model", input_example=x[:2])


def build_demo(root: Path, points: int = 5_000, with_model: bool = True) -> Demo:
    """Experiment ``demo``: a parent with three children, a run named like an XSS payload;
    experiment ``other``: one run. The parent has ``points`` steps of ``loss`` (a spike up
    and one down), ``acc``, NaN/+inf/-inf in ``odd``, and text/CSV/PNG/SVG/HTML artifacts."""
    config = {"local": {"path": str(root), "flush_interval": 0.05}}
    with tb.start_run(experiment="demo", run_name="parent", config=config,
                      tags={"mlflow.source.git.commit": "0123456789abcdef", "team": "vision"}) as run:
        run.log_params({"lr": 0.1, "depth": 3, "optimizer": "adam"})
        for step in range(points):
            run.log_metrics({"loss": loss(step), "acc": step / points}, step=step)
        for step, value in enumerate([1.0, math.nan, 2.0, math.inf, 3.0, -math.inf, 4.0]):
            run.log_metric("odd", value, step=step)
        run.log_text("line one\nline two\n", "notes/readme.txt")
        run.log_text("epoch,loss\n0,1.5\n1,0.7\n2,0.4\n", "tables/history.csv")
        run.log_text(HTML_ARTIFACT, "report.html")
        run.log_text(SVG_ARTIFACT, "plots/logo.svg")
        png = root.parent / "one.png"
        png.write_bytes(PNG_1PX)
        run.log_artifact(str(png), artifact_path="plots")
        if with_model:
            log_small_model(run)
        children = []
        for k, lr in enumerate((0.01, 0.1, 1.0)):
            with tb.start_run(run_name=f"child-{k}", nested=True, config=config) as child:
                child.log_params({"lr": lr, "depth": 3 + k})
                child.log_metrics({"loss": 1.0 / (k + 1), "acc": 0.5 + k / 10}, step=0)
                child.log_metrics({"loss": 0.5 / (k + 1), "acc": 0.6 + k / 10}, step=1)
                children.append(child.id)
    with tb.start_run(experiment="demo", run_name=XSS_NAME, config=config,
                      tags={"note": XSS_NAME}) as xss:
        xss.log_param("lr", 0.5)
        xss.log_metric("loss", 0.9, step=0)
    with tb.start_run(experiment="other", run_name="lonely", config=config) as other:
        other.log_metric("loss", 2.0)
    if with_model:
        version = tb.register_model(f"runs:/{run.id}/model", "churn", config=config)
        tb.set_model_alias("churn", "prod", version.version, config=config)
    return Demo(config, root, run.id, children, xss.id, other.id)
