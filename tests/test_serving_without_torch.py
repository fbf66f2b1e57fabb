"""Serving needs no torch: `python -m serve` identifies photos and draws heat maps with ONNX
Runtime and numpy only, checked in processes that start clean."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port, password

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "timm")


def _photo(photos_root: Path) -> Path:
    return sorted((photos_root / "tiger").iterdir())[0]


@pytest.mark.model
def test_the_app_identifies_and_draws_heat_maps_without_importing_torch(model_bundle, photos_root, tmp_path):
    code = f"""
import json, sys
from pathlib import Path
from serve.context import AppConfig, AppContext
from serve.app import build_app
from serve.identify.heatmap import HeatMapper
data = Path({str(tmp_path / 'data')!r}); (data / 'models').mkdir(parents=True)
(data / 'models' / 'current').symlink_to(Path({str(model_bundle)!r}).resolve())
ctx = AppContext(AppConfig(data_dir=data, photo_roots=(Path({str(photos_root)!r}),)))
build_app(ctx)
predictor = ctx.predictor()
result = predictor.identify({str(_photo(photos_root))!r})
heat = HeatMapper.for_predictor(predictor).explain({str(_photo(photos_root))!r}).overlay(size=448)
print(json.dumps({{"heavy": sorted(m for m in {HEAVY!r} if m in sys.modules), "kind": result.decision.kind.value,
                  "size": list(heat.size)}}))
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["heavy"] == [] and out["size"] == [448, 448]


@pytest.mark.app
def test_python_m_serve_never_loads_torch(model_bundle, photos_root, tmp_path):
    """The real process: started, warmed up (model, quiz photos, heat-map head), one photo
    identified through the API; libtorch never appears among its mapped files."""
    from gradio_client import Client, handle_file

    from serve.records.store import Store

    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    (data / "models" / "current").symlink_to(Path(model_bundle).resolve())
    with Store.open(f"sqlite:///{data / 'records.db'}", bcrypt_rounds=4) as store:
        store.add_user("olga", "officer", password("olga"))
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "serve", "--port", str(port), "--data-dir", str(data),
                             "--photos", str(photos_root)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                time.sleep(0.5)
        client = Client(url, auth=("olga", password("olga")), verbose=False, analytics_enabled=False,
                        download_files=str(tmp_path / "downloads"))
        result = client.predict([handle_file(str(_photo(photos_root)))], None, api_name="/identify")
        assert result["results"] and result["results"][0]["decision"]
        time.sleep(2)  # let the warm-up thread (heat-map head, quiz photos) finish
        assert "libtorch" not in Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
