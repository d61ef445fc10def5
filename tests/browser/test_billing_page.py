"""The billing page in a real browser, against the local stack (scripts/dev --browser-tests): what a
user sees equals what the API says, and what a user does there happens."""

import datetime
import os
import subprocess
import time
import unittest
from decimal import Decimal

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from browser import api, chromium, page_url


def usd(amount):
    """What en-US shows for a USD amount given by the API (2 decimals, more if the API gave more)."""
    d = Decimal(amount)
    places = max(2, -d.as_tuple().exponent)
    sign = "-" if d < 0 else ""
    return f"{sign}${abs(d):,.{places}f}"


def long_date(iso):
    return datetime.date.fromisoformat(iso).strftime("%B %-d, %Y")


class BillingPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.driver = chromium()

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()

    def open(self, account=None):
        self.driver.get(page_url(account))
        self.text("#bp-mtd")  # the summary has rendered

    def wait(self, condition, timeout=15):
        return WebDriverWait(self.driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(condition)

    def text(self, css, contains=None, timeout=15):
        """The visible text of `css`, once it exists (and contains `contains`)."""
        def ready(d):
            try:
                els = d.find_elements(By.CSS_SELECTOR, css)
                t = els[0].text if els else ""
            except StaleElementReferenceException:  # re-rendered meanwhile: look again
                return False
            return t if (contains is None or contains in t) and t else False
        try:
            return self.wait(ready, timeout)
        except Exception:
            found = [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, css)]
            self.fail(f"{css} never showed {contains!r}; it shows {found}")

    def test_the_demo_accounts_figures_on_the_page_equal_the_apis(self):
        self.open()
        _, s = api("GET", "/v1/billing/summary")
        self.assertGreater(Decimal(s["month_to_date"]), 0)
        self.assertEqual(self.text("#bp-credits-now"), usd(s["credits"]["remaining"]))
        self.assertEqual(self.text("#bp-credits-after"), usd(s["credits"]["remaining_after_month"]))
        self.assertEqual(self.text("#bp-mtd"), usd(s["month_to_date"]))
        self.assertEqual(self.text("#bp-projected"), usd(s["projected_month_end"]))
        self.assertEqual(self.text("#bp-next-charge"), long_date(s["next_charge_date"]))
        if s["credits"]["runs_out_at"]:
            self.text("#bp-runway", "run out")
        else:
            self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "#bp-runway"), [])

        _, u = api("GET", "/v1/billing/usage?month=" + s["month"])
        self.assertEqual(self.text("#bp-usage-total"), usd(u["total"]))
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#bp-usage table tbody tr")
        shown = [[c.text for c in r.find_elements(By.CSS_SELECTOR, "th, td")] for r in rows]
        expected = [[l["service"], f"{l['hours']} h", usd(l["amount"])] for l in u["lines"]]
        self.assertEqual(shown[: len(expected)], expected)
        bars = self.driver.find_elements(By.CSS_SELECTOR, "#bp-usage .bp-vertical .bp-col")
        self.assertEqual(len(bars), len(u["by_day"]), "one bar per day with usage")

        _, inv = api("GET", "/v1/billing/invoices")
        self.assertTrue(inv["invoices"], "scripts/dev invoiced last month")
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#bp-invoices tbody tr")
        self.assertEqual(len(rows), len(inv["invoices"]))
        for row, i in zip(rows, inv["invoices"]):
            cells = [c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]
            self.assertEqual(cells[2:5], [usd(i["gross"]), usd(i["credits_applied"]), usd(i["amount_charged"])])
            self.assertEqual(cells[1], {"paid": "Paid", "open": "Open", "draft": "Draft",
                                        "payment_failed": "Payment failed", "void": "Void"}[i["status"]])
            link = row.find_element(By.LINK_TEXT, "View invoice")
            self.assertEqual(link.get_attribute("href"), i["hosted_invoice_url"])
            row.find_element(By.CSS_SELECTOR, "details summary").click()
            lines = [li.text for li in row.find_elements(By.CSS_SELECTOR, "details li")]
            self.assertEqual(len(lines), len(i["lines"]))
            for shown_line, line in zip(lines, i["lines"]):
                self.assertIn(usd(line["amount"]), shown_line)

    def test_changing_the_payment_method_through_checkout_shows_the_new_card(self):
        _, before = api("GET", "/v1/billing/payment-method")
        # scripts/dev saved a Visa; change to the other card (so that a rerun changes it back).
        was, now = [("Visa ending 4242", "visa", "4242"), ("Mastercard ending 4444", "mastercard", "4444")]
        if before["last4"] != "4242":
            was, now = now, was
        self.open()
        self.text("#bp-card", was[0])
        self.driver.find_element(By.ID, "bp-change-method").click()
        # The fake's hosted Checkout page: choose a card and save it.
        self.wait(ec.presence_of_element_located((By.ID, "save-card")))
        self.driver.find_element(By.CSS_SELECTOR, f"input[value=pm_card_{now[1]}]").click()
        self.driver.find_element(By.ID, "save-card").click()
        # Back on the billing page, which says so and shows the card once Stripe's webhooks land.
        self.text(".bp-notice", "new payment method was saved")
        self.text("#bp-card", now[0], timeout=20)
        _, m = api("GET", "/v1/billing/payment-method")
        self.assertEqual((m["brand"], m["last4"]), now[1:])
        self.assertNotIn("payment_method=", self.driver.current_url, "the notice is shown once")

    def test_the_portal_button_goes_to_the_portal_and_back(self):
        self.open()
        self.driver.find_element(By.ID, "bp-update-info").click()
        self.wait(ec.presence_of_element_located((By.ID, "portal-return"))).click()
        self.text("#bp-mtd")
        self.assertTrue(self.driver.current_url.startswith(page_url()))

    def test_adding_and_removing_a_threshold(self):
        self.open()
        self.text("#bp-threshold-list", "$50.00")
        box = self.driver.find_element(By.ID, "bp-new-threshold")
        box.send_keys("75")
        self.driver.find_element(By.ID, "bp-add-threshold").click()
        self.text("#bp-threshold-list", "$75.00")
        self.assertIn("75", api("GET", "/v1/billing/alerts")[1]["thresholds"])
        self.driver.find_element(By.CSS_SELECTOR, "button[aria-label='Remove the $75.00 threshold']").click()
        self.wait(lambda d: "$200.00" in self.text("#bp-threshold-list") and "$75.00" not in self.text("#bp-threshold-list"))
        self.assertNotIn("75", api("GET", "/v1/billing/alerts")[1]["thresholds"])
        # The page reloaded shows what was saved.
        self.open()
        self.assertNotIn("$75.00", self.text("#bp-threshold-list"))

    def test_a_400_from_the_api_shows_its_message_and_changes_nothing(self):
        self.open()
        before = api("GET", "/v1/billing/alerts")[1]
        status, problem = api("PUT", "/v1/billing/alerts",
                              body={"email": before["email"], "thresholds": before["thresholds"] + ["-5"]})
        self.assertEqual(status, 400)
        box = self.driver.find_element(By.ID, "bp-new-threshold")
        box.send_keys("-5")
        self.driver.find_element(By.ID, "bp-add-threshold").click()
        self.assertEqual(self.text("#bp-threshold-error"), problem["detail"])
        self.assertEqual(box.get_attribute("aria-invalid"), "true")
        self.assertEqual(api("GET", "/v1/billing/alerts")[1], before)
        # An empty email is refused by the page itself, with a message.
        email = self.driver.find_element(By.ID, "bp-alert-email")
        email.clear()
        self.driver.find_element(By.ID, "bp-save-email").click()
        self.text("#bp-email-error", "Enter the email address")

    def test_setting_refusing_and_removing_a_spend_limit(self):
        self.open()
        self.text("#bp-limit-current", "No spend limit")
        box = self.driver.find_element(By.ID, "bp-spend-limit")
        box.send_keys("10.001")
        self.driver.find_element(By.ID, "bp-save-limit").click()
        status, problem = api("PUT", "/v1/billing/spend-limit", body={"limit": "10.001"})
        self.assertEqual(status, 400)
        self.assertEqual(self.text("#bp-limit-error"), problem["detail"])
        self.assertIsNone(api("GET", "/v1/billing/spend-limit")[1]["limit"])
        box = self.driver.find_element(By.ID, "bp-spend-limit")
        box.clear()
        box.send_keys("500")
        self.driver.find_element(By.ID, "bp-save-limit").click()
        self.text("#bp-limit-current", "$500.00")
        self.assertEqual(api("GET", "/v1/billing/spend-limit")[1]["limit"], "500")
        self.assertEqual(api("GET", "/v1/billing/summary")[1]["spend_limit"], "500")
        self.driver.find_element(By.ID, "bp-remove-limit").click()
        self.text("#bp-limit-current", "No spend limit")
        self.assertIsNone(api("GET", "/v1/billing/spend-limit")[1]["limit"])

    def test_the_page_renders_its_figures_when_the_payment_method_call_fails(self):
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/v1/billing/payment-method"]})
        try:
            self.open()
            _, s = api("GET", "/v1/billing/summary")
            self.text("#bp-card", "could not be reached")
            self.assertEqual(self.text("#bp-mtd"), usd(s["month_to_date"]))
            self.assertEqual(self.text("#bp-credits-now"), usd(s["credits"]["remaining"]))
            self.text("#bp-usage-total")
            self.text("#bp-invoices tbody")
        finally:
            self.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        self.driver.find_element(By.CSS_SELECTOR, "#bp-payment button.bp-secondary").click()
        self.text("#bp-card", "ending")

    def test_deleting_an_account_states_what_stays_due_and_shows_the_final_charge_date(self):
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        subprocess.run([os.environ["BILLING_ADMIN"], "usage", "record", "--account", "acct-leaving",
                        "--service", "vm-standard-4", "--resource", "vm-9",
                        "--start", stamp(now - datetime.timedelta(hours=3)),
                        "--stop", stamp(now - datetime.timedelta(hours=1))],
                       check=True, capture_output=True)
        self.open("acct-leaving")
        _, s = api("GET", "/v1/billing/summary", account="acct-leaving")
        self.driver.find_element(By.ID, "bp-delete").click()
        due = self.text("#bp-delete-due")
        self.assertIn(usd(s["month_to_date"]), due)
        self.assertIn(long_date(s["next_charge_date"]), due)
        self.driver.find_element(By.ID, "bp-delete-confirm").click()
        final = self.text("#bp-final-charge")
        _, d = api("DELETE", "/v1/account", account="acct-leaving")  # again: the same deletion
        self.assertIn(long_date(d["final_charge_date"]), final)
        self.assertIn(usd(d["usage_to_be_billed"]), final)
        self.assertTrue(self.driver.find_element(By.ID, "bp-change-method").get_attribute("disabled"))


if __name__ == "__main__":
    started = time.monotonic()
    result = unittest.main(exit=False, verbosity=2).result
    print(f"browser tests: {result.testsRun} run in {time.monotonic() - started:.0f} s")
    raise SystemExit(0 if result.wasSuccessful() else 1)
