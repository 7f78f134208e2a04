"""Serve the demo and drive its page in a real headless browser: Debian's `chromium` with its `chromedriver`, through
Selenium. Used by the browser test (tests/test_demo_browser.py) and by `python -m benchmarks.demo` (screenshots and
response times).

    apt-get install chromium chromium-driver && pip install -e ".[demo,test]"
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)


def find_browser() -> tuple[str, str] | None:
    """(browser binary, matching driver) installed on this machine, or None."""
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver = next((path for name in DRIVERS if (path := shutil.which(name))), None)
    return (browser, driver) if browser and driver else None


def missing_reason() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    for module, extra in (("gradio", "demo"), ("selenium", "test")):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e \".[{extra}]\")"
    if find_browser() is None:
        return "no chromium and chromedriver on PATH (apt-get install chromium chromium-driver)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DemoServer:
    """`python -m hf_attn_seq2seq.demo MODELS...` in a child process on a free local port, for a `with` block."""

    def __init__(self, models: list[str], labels: list[str] | None = None, startup_timeout: float = 120.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "hf_attn_seq2seq.demo", *map(str, models), "--host", "127.0.0.1",
                   "--port", str(self.port)]
        for label in labels or []:
            command += ["--label", label]
        self.command = command
        self.startup_timeout = startup_timeout
        self.process = None
        self.log = ""

    def __enter__(self) -> "DemoServer":
        environment = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=environment, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            self.log += line
            if "Running on" in line:
                return self
            if not line and self.process.poll() is not None:
                break
        self.__exit__(None, None, None)
        raise RuntimeError(f"the demo did not start: {' '.join(self.command)}\n{self.log}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class DemoPage:
    """The demo page in headless chromium. `generate` types a source, clicks and waits for the page to change."""

    def __init__(self, url: str, width: int = 1280, height: int = 1300, timeout: float = 60.0):
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        browser, driver = find_browser()
        options = Options()
        options.binary_location = browser
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         f"--window-size={width},{height}", "--no-first-run", "--disable-background-networking",
                         "--hide-scrollbars"):
            options.add_argument(argument)
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        self.timeout = timeout
        self.driver.get(url)
        self.wait_for(lambda: self.find("#source textarea") or self.find("#memory-run"))

    def __enter__(self) -> "DemoPage":
        return self

    def __exit__(self, *exc) -> None:
        self.driver.quit()

    def find(self, selector: str):
        from selenium.webdriver.common.by import By

        found = self.driver.find_elements(By.CSS_SELECTOR, selector)
        return found[0] if found else None

    def find_all(self, selector: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def wait_for(self, condition, timeout: float | None = None):
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        # an element read while the page redraws it is stale: the condition is tried again at the next poll
        return WebDriverWait(self.driver, timeout or self.timeout, poll_frequency=0.02,
                             ignored_exceptions=(StaleElementReferenceException,)).until(lambda _: condition())

    def text_of(self, selector: str) -> str:
        element = self.find(selector)
        if element is None:
            return ""
        if element.tag_name in ("textarea", "input"):
            return element.get_attribute("value") or ""
        return element.text.strip()

    def set_number(self, elem_id: str, value) -> None:
        """Type `value` into the number box of the slider `elem_id` (Gradio applies it when the box loses focus)."""
        from selenium.webdriver.common.keys import Keys

        box = self.find(f"#{elem_id} input[type=number]")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(str(value), Keys.TAB)

    def _submit(self, source: str, button: str, text: str, watched: list[str]) -> float:
        """Type `text` into `source`, click `button`, wait until any `watched` element's text changes; returns the
        seconds from the click to the change."""
        from selenium.webdriver.common.keys import Keys

        before = [self.text_of(selector) for selector in watched]
        box = self.find(source)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        if text:
            box.send_keys(text)
        self.find(button).click()
        start = time.perf_counter()
        self.wait_for(lambda: [self.text_of(selector) for selector in watched] != before)
        return time.perf_counter() - start

    def generate(self, text: str) -> tuple[str, str, int, float]:
        """The "Generate" tab: (output, message, heatmap rows, seconds from the click to the answer). The page must
        change from the previous answer (a different output or message) for the wait to end."""
        seconds = self._submit("#source textarea", "#generate", text, ["#output textarea", "#message"])
        rows = len(self.find_all("#heatmap svg g.heatmap-row"))
        return self.text_of("#output textarea"), self.text_of("#message"), rows, seconds

    def compare(self, text: str, count: int) -> list[tuple[str, str, int]]:
        """The "Compare" tab with `count` models: (output, message, heatmap rows) per model."""
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Compare')]").click()
        self.wait_for(lambda: self.find("#compare-source textarea") is not None
                      and self.find("#compare-source textarea").is_displayed())
        watched = [f"#compare-{part}-{index} {suffix}".strip() for index in range(count)
                   for part, suffix in (("output", "textarea"), ("message", ""))]
        self._submit("#compare-source textarea", "#compare", text, watched)
        # every model answers in the same request, but the page may redraw them one after another
        self.wait_for(lambda: all(self.text_of(f"#compare-output-{index} textarea")
                                  or self.text_of(f"#compare-message-{index}") for index in range(count)))
        return [(self.text_of(f"#compare-output-{index} textarea"), self.text_of(f"#compare-message-{index}"),
                 len(self.find_all(f"#compare-heatmap-{index} svg g.heatmap-row"))) for index in range(count)]

    def run_memory(self, seed=None, size=None, typed: str | None = None, step=None,
                   model: str | None = None) -> tuple[str, str, dict]:
        """The "Memory" tab: pick the model (by its label) where given, set what is given, click Run and wait for the
        summary to change; returns (summary, step description, {picture class: number of steps drawn})."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        tab = self.driver.find_elements(By.XPATH, "//button[@role='tab'][contains(., 'Memory')]")
        if tab:
            tab[0].click()
        self.wait_for(lambda: self.find("#memory-run") is not None and self.find("#memory-run").is_displayed())
        if model is not None and self.find("#memory-model input").get_attribute("value") != model:
            self.find("#memory-model input").click()

            def option():  # the open list's entry for `model` (each entry's text is a check mark and the label)
                return next((item for item in self.find_all("li[data-testid='dropdown-option']")
                             if item.text.replace("✓", "").strip() == model), None)

            self.wait_for(option).click()
            self.wait_for(lambda: self.find("#memory-model input").get_attribute("value") == model)
        for elem_id, value in (("memory-seed", seed), ("memory-size", size), ("memory-step", step)):
            if value is not None:
                box = self.find(f"#{elem_id} input")
                box.send_keys(Keys.CONTROL, "a")
                box.send_keys(str(value), Keys.TAB)
        if typed is not None:
            box = self.find("#memory-typed textarea")
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(Keys.DELETE)
            if typed:
                box.send_keys(typed)
        before = self.text_of("#memory-summary")
        before_run = self._memory_run()
        self.find("#memory-run").click()
        self.wait_for(lambda: self.text_of("#memory-summary") not in ("", before)
                      and self._memory_run() not in (None, before_run))
        drawn = {kind: len(self.find_all(f"#memory-view svg.memory-{kind} g.memory-step"))
                 for kind in ("inputs", "outputs", "writes", "reads")}
        return self.text_of("#memory-summary"), self.text_of("#memory-step-text"), drawn

    def _memory_run(self) -> str | None:
        """The number of the run the memory pictures show (None before the first)."""
        pictures = self.find("#memory-view .memory-pictures")
        return None if pictures is None else pictures.get_attribute("data-run")

    def screenshot(self, path: str | Path) -> None:
        """The whole page, cropped to its content height."""
        width = self.driver.execute_script("return window.outerWidth")
        for _ in range(3):  # the viewport is the window less its frame, and the layout may reflow once it is taller
            height, frame = self.driver.execute_script(
                "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]")
            self.driver.set_window_size(width, max(600, height + frame + 16))
            time.sleep(0.3)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
