"""Screenshots of the billing page for the README (scripts/dev --screenshots): the demo account at
desktop and phone width, whole page, with last month's usage shown (a whole month of days, and
this month may be a day old)."""

import os
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from selenium.webdriver.support.ui import WebDriverWait

from browser import chromium, page_url

out = sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"
os.makedirs(out, exist_ok=True)
for name, width in (("billing-desktop", 1280), ("billing-phone", 390)):
    driver = chromium(width, 900)
    try:
        driver.get(page_url())
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#bp-usage-total")
                                        and d.find_elements(By.CSS_SELECTOR, "#bp-card")
                                        and d.find_elements(By.CSS_SELECTOR, "#bp-invoices table"))
        months = Select(driver.find_element(By.ID, "bp-usage-month"))
        months.select_by_index(1)
        last_month = months.first_selected_option.text
        WebDriverWait(driver, 20).until(lambda d: last_month in d.find_element(By.CSS_SELECTOR, "#bp-usage .bp-total").text)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, height + 100)
        path = os.path.join(out, name + ".png")
        driver.save_screenshot(path)
        print(f"wrote {path} ({width} px wide)")
    finally:
        driver.quit()
