# The browser the billing page's tests drive: Debian's Chromium and its driver (apt), and Selenium
# (pinned below) in a virtual environment kept outside the clone. Source it, then `ensure_browser`.
# Selenium never downloads a driver (SE_OFFLINE): it drives /usr/bin/chromedriver.

SELENIUM_VERSION="4.27.1"
BROWSER_VENV="${BROWSER_VENV:-$HOME/.cache/billing-venv-selenium-$SELENIUM_VERSION}"
export SE_OFFLINE=true CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"

ensure_browser() {
  if [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; then
    echo "== installing chromium and chromium-driver (apt)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  if [ ! -x "$BROWSER_VENV/bin/python" ] || ! "$BROWSER_VENV/bin/python" -c 'import selenium' 2>/dev/null; then
    echo "== installing selenium==$SELENIUM_VERSION into $BROWSER_VENV"
    python3 -m venv "$BROWSER_VENV"
    "$BROWSER_VENV/bin/pip" install --quiet --disable-pip-version-check "selenium==$SELENIUM_VERSION"
  fi
}
