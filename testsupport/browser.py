"""A real headless Chromium driven by Selenium, for the UI's browser tests and benchmarks.

Debian's ``chromium`` and ``chromium-driver`` packages (``scripts/test`` installs them with
apt-get when missing); override the paths with ``TRACKBRIDGE_CHROMIUM`` and
``TRACKBRIDGE_CHROMEDRIVER``. Selenium is pointed at both explicitly, so it never tries to
download a driver. Only loopback URLs are ever opened.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CHROMIUM = os.environ.get("TRACKBRIDGE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TRACKBRIDGE_CHROMEDRIVER", "/usr/bin/chromedriver")
MISSING = ("the browser tests need Debian's chromium and chromium-driver "
           "(apt-get install chromium chromium-driver; scripts/test does it when run as root)")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
         "--window-size=1400,1000", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-extensions", "--disable-default-apps",
         "--force-device-scale-factor=1")


def start_chromium(profile_dir: Path | None = None):
    """A new headless Chromium session with a fresh profile (caller quits it)."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        raise RuntimeError(f"{MISSING}: {CHROMIUM} or {CHROMEDRIVER} is missing")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = profile_dir or Path(tempfile.mkdtemp(prefix="trackbridge-chromium-"))
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def canvas_ink(driver, selector: str) -> int:
    """How many pixels of the first canvas under ``selector`` differ from its most common
    colour (0: nothing drawn)."""
    return driver.execute_script("""
        const canvas = document.querySelector(arguments[0]);
        if (!canvas) return -1;
        const ctx = canvas.getContext('2d');
        const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        const counts = new Map();
        for (let i = 0; i < data.length; i += 4) {
            const key = (data[i] << 24) ^ (data[i+1] << 16) ^ (data[i+2] << 8) ^ data[i+3];
            counts.set(key, (counts.get(key) || 0) + 1);
        }
        let most = 0;
        for (const n of counts.values()) most = Math.max(most, n);
        return data.length / 4 - most;
    """, selector)
