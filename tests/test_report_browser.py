"""The HTML report renders in a real browser (headless Chromium), when one is installed."""
import shutil
import subprocess

import pytest

from attrlab.runner import RunConfig, run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium to run this check)")
def test_report_renders_in_headless_chromium(tmp_path):
    out = run(RunConfig(out_dir=tmp_path / "run", methods=["deeplift:baseline=true", "random"],
                        options={"n_images": 2, "size": 32}, progress=False))
    shot = tmp_path / "shot.png"
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", (out / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "attrlab report" in dom.stdout and "deeplift:baseline=true" in dom.stdout
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile2'}", f"--screenshot={shot}", "--window-size=1200,2400",
                    (out / "report.html").as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000  # a page with figures, not a blank one
