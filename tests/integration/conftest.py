"""The real stack for integration tests: the trained Rasa model served by a real Rasa server,
our real action server, the real embedding model and FAQ index, and a fresh SQLite database."""

from __future__ import annotations

import contextlib
import time

import pytest

from tests.support.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("stack"))
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="session")
def web_url(stack) -> str:
    """The real web app (``legal-triage web``) in front of the stack's Rasa."""
    return stack.start_web()


@pytest.fixture
def staff_api(web_url):
    """A client for the staff JSON API, authenticated as the first test staff member."""
    import httpx

    from tests.support.stack import STAFF_TOKENS

    name, token = next(iter(STAFF_TOKENS.items()))
    with httpx.Client(
        base_url=f"{web_url}/api/staff", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        client.staff_name = name
        yield client


def wait_until(check, timeout: float = 60.0, what: str = "condition"):
    """Poll ``check`` until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def platform_fakes():
    """The local fakes of WeChat's and Telegram's APIs, and the environment that points our processes
    at them: ``(wechat, telegram, env)``."""
    from tests.fakes.telegram_api import FakeTelegram
    from tests.fakes.wechat_api import FakeWeChatApi
    from tests.unit.channels.test_wechat import TOKEN

    wechat, telegram = FakeWeChatApi(), FakeTelegram()
    wechat.start()
    telegram.start()
    try:
        yield (
            wechat,
            telegram,
            {
                "WECHAT_TOKEN": TOKEN,
                "WECHAT_APP_ID": wechat.app_id,
                "WECHAT_APP_SECRET": wechat.app_secret,
                "WECHAT_API_BASE_URL": wechat.url,
                "TELEGRAM_BOT_TOKEN": telegram.token,
                "TELEGRAM_BASE_URL": telegram.base_url,
            },
        )
    finally:
        telegram.stop()
        wechat.stop()


@pytest.fixture(scope="module")
def channels(stack):
    """A web app serving /wechat, and the Telegram worker, both wired to local fakes."""
    with platform_fakes() as (wechat, telegram, env):
        url = stack.start_web("web_channels", **env)
        stack.start_telegram(**env)
        try:
            yield url, wechat, telegram
        finally:
            stack.stop("telegram")
            stack.stop("web_channels")


def make_browser():
    """Debian's headless Chromium through Selenium, emulating a phone-sized screen by default."""
    import shutil

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.fail("Debian's chromium and chromium-driver are required (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver_path), options=options)


def patient_wait(driver, timeout: float = 60):
    """A WebDriverWait that rides out page loads: an element found on the page being left can
    vanish before it is read (Chromium then says the node "does not belong to the document")."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,))


def follow(driver, target, timeout: float = 60) -> None:
    """Click a link or a form button (an element, or an element id) and wait until the new page
    has replaced the old one, so that nothing afterwards reads or types into the page being left
    (Selenium may return from the click before the navigation has even started)."""
    from selenium.webdriver.support import expected_conditions

    page = driver.find_element("tag name", "html")
    (driver.find_element("id", target) if isinstance(target, str) else target).click()
    patient_wait(driver, timeout).until(
        lambda d: (
            expected_conditions.staleness_of(page)(d) and d.execute_script("return document.readyState") == "complete"
        )
    )


def emulate(driver, width: int, height: int, mobile: bool) -> None:
    # headless windows have a minimum width, so emulate the device instead of resizing
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 2 if mobile else 1, "mobile": mobile},
    )


@pytest.fixture(scope="module")
def browser():
    """A phone: the citizen's web chat."""
    driver = make_browser()
    emulate(driver, 390, 844, mobile=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def desk_browser():
    """An office PC: the staff console."""
    driver = make_browser()
    emulate(driver, 1280, 800, mobile=False)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def screenshots():
    from bot.settings import PROJECT_ROOT

    folder = PROJECT_ROOT / "results" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
