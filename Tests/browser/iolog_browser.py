"""Shared helpers for the browser tests and scripts/screenshots: start iolog, drive headless Chromium."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`iolog serve --dev [--demo]` on a fresh data folder; `tokens` holds what it printed."""

    def __init__(self, binary, demo=False):
        self.folder = tempfile.mkdtemp(prefix="iolog-browser-")
        self.data = os.path.join(self.folder, "iolog-data")
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.binary = binary
        args = [binary, "serve", "--dev", "--data-dir", self.data, "--port", str(self.port)]
        if demo:
            args.append("--demo")
        self.stdout = open(os.path.join(self.folder, "stdout"), "w+")
        self.stderr = open(os.path.join(self.folder, "stderr"), "w+")
        self.process = subprocess.Popen(args, stdout=self.stdout, stderr=self.stderr)
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("iolog did not start: " + self.output())
        with open(self.stdout.name) as stdout:
            printed = stdout.read()
        self.gateway_token = re.search(r"gateway token:\s+(\S+)", printed).group(1)
        self.admin_token = re.search(r"admin token:\s+(\S+)", printed).group(1)

    def iolog(self, *args):
        """Runs an `iolog` command on the same data folder; returns its standard output."""
        done = subprocess.run([self.binary, *args, "--data-dir", self.data], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError("iolog %s failed: %s" % (" ".join(args), done.stderr))
        return done.stdout.strip()

    def output(self):
        self.stdout.seek(0)
        self.stderr.seek(0)
        return self.stdout.read() + self.stderr.read()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.stdout.close()
        self.stderr.close()

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def chromium(width=1280, height=900):
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=%d,%d" % (width, height), "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def click_and_wait(driver, element):
    """Clicks something that loads a new page and waits until the old one is gone."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def gone(_):
        # Asked mid-navigation, Chromium can answer "Node with given id does not belong to the
        # document" instead of a stale-element error: that too means the old page is gone.
        try:
            return expected_conditions.staleness_of(old)(driver)
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise

    WebDriverWait(driver, 10).until(gone)


def login(driver, server, token):
    driver.get(server.base + "/login")
    driver.find_element(By.ID, "token").send_keys(token)
    click_and_wait(driver, driver.find_element(By.ID, "sign-in"))


def binary():
    """The iolog binary to test: $IOLOG_BINARY, else the debug build."""
    return os.environ.get("IOLOG_BINARY") or os.path.join(ROOT, ".build", "debug", "iolog")
