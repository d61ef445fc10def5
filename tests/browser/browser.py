"""Shared by the billing page's browser tests and its screenshots: a headless Debian Chromium driven
by Selenium (no driver download: SE_OFFLINE), and the billing API as the page's user calls it."""

import json
import os
import urllib.error
import urllib.request

os.environ.setdefault("SE_OFFLINE", "true")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

API = os.environ["BILLING_API"]  # the local gateway, e.g. http://127.0.0.1:8787


def chromium(width=1280, height=900):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--lang=en-US", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US"})
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def api(method, path, account="acct-demo", body=None):
    """(status, JSON) of a call to the billing API as `account`'s development token."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, method=method, data=data,
                                 headers={"Authorization": f"Bearer dev:{account}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def page_url(account=None):
    return API + "/billing" + (f"?account={account}" if account else "")
