"""The checks of scripts/sam-local, run once the engine, moto and the Stripe fake are up.

    python sam_local.py seed     moto's state the functions expect (table, prices, queue, bus, SES
                                 identity, the Stripe secrets in SSM)
    python sam_local.py invoke   every case of scripts/sam-local.cases through `sam local invoke`
    python sam_local.py api      `sam local start-api`: the dashboard routes and signed webhooks

Settings come from the environment scripts/sam-local exports: SAM (the sam executable), SAM_FLAGS
(flags of every `sam local` command), SAM_ENV_VARS (the --env-vars file), AWS_ENDPOINT_URL (moto,
as this host reaches it), STRIPE_FAKE_URL, STRIPE_WEBHOOK_SECRET, SAM_LOCAL_API_PORT and
SAM_LOCAL_WORK (a scratch folder); SAM_LOCAL_CASES, another cases file. Needs boto3 (moto's virtual environment has it).
"""

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(os.environ.get("SAM_LOCAL_CASES", ROOT / "scripts" / "sam-local.cases"))
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"sam_local.py: {name} is not set (run scripts/sam-local)")
    return value


def local_settings():
    """The functions' settings, as the containers get them (the --env-vars file)."""
    return json.loads(Path(env("SAM_ENV_VARS")).read_text())["Parameters"]


# --- moto's state -------------------------------------------------------------------------------


def seed():
    import boto3

    settings = local_settings()
    admin = [env("BILLING_ADMIN")]
    admin_env = dict(os.environ, TABLE_NAME=settings["TABLE_NAME"], CURRENCY="USD")
    subprocess.run([*admin, "table", "create"], env=admin_env, check=True, stdout=subprocess.DEVNULL)
    first_of_last_month = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    for service, hourly in [("gpu-h100", "2.49"), ("vm-standard-4", "0.192"), ("volume-ssd", "0.0137")]:
        subprocess.run(
            [*admin, "prices", "set", "--service", service, "--hourly", hourly,
             "--effective", f"{first_of_last_month}T00:00:00Z"],
            env=admin_env, check=True, stdout=subprocess.DEVNULL,
        )
    boto3.client("sesv2").create_email_identity(EmailIdentity=settings["ALERT_SENDER"])
    boto3.client("events").create_event_bus(Name=settings["EVENT_BUS_NAME"])
    for queue in ("WORK_QUEUE_URL", "SWEEP_QUEUE_URL"):
        boto3.client("sqs").create_queue(QueueName=settings[queue].rsplit("/", 1)[1])
    ssm = boto3.client("ssm")
    # The template's default parameter names, as the deployed functions read them.
    for name, value in [("/billing/stripe/dashboard-key", "sk_test_local"),
                        ("/billing/stripe/webhook-key", "sk_test_local"),
                        ("/billing/stripe/worker-key", "sk_test_local"),
                        ("/billing/stripe/webhook-secret", env("STRIPE_WEBHOOK_SECRET"))]:
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    print("== moto seeded: table, prices, SES identity, bus, queue, the Stripe keys and webhook secret in SSM")


# --- the events ---------------------------------------------------------------------------------


def dated(event):
    """A usage or scheduler sample with its instants moved by whole days so that its `time` is
    yesterday (UTC): the functions read the real clock, and usage older than 35 days is refused."""
    stamp = event.get("time") if isinstance(event, dict) else None
    if not (isinstance(stamp, str) and INSTANT.match(stamp)):
        return event
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    shift = yesterday - dt.date.fromisoformat(stamp[:10])

    def move(v):
        if isinstance(v, dict):
            return {k: move(x) for k, x in v.items()}
        if isinstance(v, list):
            return [move(x) for x in v]
        if isinstance(v, str) and INSTANT.match(v):
            at = dt.datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ") + shift
            return at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return v

    return move(event)


def signed_now(event):
    """A webhook sample signed now with the local endpoint secret, as Stripe signs a delivery."""
    t = int(time.time())
    body = event["body"]
    mac = hmac.new(env("STRIPE_WEBHOOK_SECRET").encode(), f"{t}.{body}".encode(), hashlib.sha256)
    headers = dict(event["headers"], **{"stripe-signature": f"t={t},v1={mac.hexdigest()}"})
    return dict(event, headers=headers)


PREPARE = {"-": lambda e: e, "signed-now": signed_now}


def due_month():
    """The month a billing run invoices today: the previous one from this month's first business
    day on (no holidays are configured locally), else none."""
    today = dt.datetime.now(dt.timezone.utc).date()
    first = today.replace(day=1)
    while first.weekday() >= 5:
        first += dt.timedelta(days=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m") if today >= first else None


def contains(actual, expected):
    """`expected` is a part of `actual`: every key of an object (recursively), every item of a list
    in order, scalars equal; "~text" matches a string containing text; a JSON string (an HTTP
    body) is compared by its content."""
    if isinstance(actual, str) and isinstance(expected, (dict, list)):
        try:
            actual = json.loads(actual)
        except ValueError:
            return False
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(contains(a, e) for a, e in zip(actual, expected)))
    if isinstance(expected, str) and expected.startswith("~"):
        return isinstance(actual, str) and expected[1:] in actual
    return actual == expected


def cases():
    """scripts/sam-local.cases: `function event how expected-answer`, one case a line."""
    for number, line in enumerate(CASES.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        function, event, how, expected = line.split(None, 3)
        expected = expected.replace('"$DUE_MONTH"', json.dumps(due_month()))
        yield number, function, event, how, json.loads(expected)


def sam(*args, **kwargs):
    command = [env("SAM"), *args, *shlex.split(os.environ.get("SAM_FLAGS", "")),
               "--env-vars", env("SAM_ENV_VARS")]
    return subprocess.run(command, cwd=ROOT, text=True, **kwargs)


def invoke(function, event_file, how="-"):
    """`sam local invoke` of one prepared sample: the function's answer, as JSON."""
    event = PREPARE[how](dated(json.loads((ROOT / event_file).read_text())))
    prepared = Path(env("SAM_LOCAL_WORK")) / f"{function}-{Path(event_file).name}"
    prepared.write_text(json.dumps(event))
    log = Path(env("SAM_LOCAL_WORK")) / "invoke.log"
    with log.open("a") as stderr:
        done = sam("local", "invoke", function, "--event", str(prepared),
                   stdout=subprocess.PIPE, stderr=stderr)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        sys.exit(f"sam local invoke {function}: no answer (exit {done.returncode}); "
                 f"stdout {done.stdout!r}; its log is {log}")


def invoke_all():
    failed = 0
    for number, function, event, how, expected in cases():
        start = time.monotonic()
        answer = invoke(function, event, how)
        ok = contains(answer, expected)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {function} {event} ({how}) "
              f"in {time.monotonic() - start:.1f} s: {json.dumps(answer)[:160]}")
        if not ok:
            print(f"     line {number} expects {json.dumps(expected)}")
    if failed:
        sys.exit(f"sam local invoke: {failed} case(s) answered otherwise than expected")


# --- sam local start-api ------------------------------------------------------------------------


def http(method, url, headers=None, body=None):
    data = body.encode() if body is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def check(what, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        sys.exit(f"     {detail}")


def wait_for(port, process, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"sam local start-api exited ({process.returncode}); see its log")
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"sam local start-api did not listen on {port} within {seconds} s")


def api():
    port = int(env("SAM_LOCAL_API_PORT"))
    log = Path(env("SAM_LOCAL_WORK")) / "start-api.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [env("SAM"), "local", "start-api", "--port", str(port), "--host", "127.0.0.1",
             "--warm-containers", "LAZY", *shlex.split(os.environ.get("SAM_FLAGS", "")),
             "--env-vars", env("SAM_ENV_VARS")],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(port, server)
        print(f"== sam local start-api on 127.0.0.1:{port} (pid {server.pid}; log {log})")
        api_checks(f"http://127.0.0.1:{port}")
    finally:
        # SIGTERM: SAM stops and removes the containers it started.
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def api_checks(api_url):
    fixture = json.loads((ROOT / "events" / "api-summary.json").read_text())
    jwt = fixture["headers"]["authorization"]
    status, ctype, body = http("GET", api_url + "/v1/billing/summary", {"Authorization": jwt})
    check("start-api GET /v1/billing/summary with a JWT-shaped token: 401 from billing-api itself "
          "(SAM does not emulate JWT authorizers: no claims reach the function)",
          status == 401 and ctype.startswith("application/problem+json"), (status, ctype, body))
    status, ctype, body = http("GET", api_url + "/v1/billing/summary")
    check("start-api GET /v1/billing/summary without a token: 401, also from billing-api "
          "(API Gateway would refuse it before the function)",
          status == 401 and ctype.startswith("application/problem+json"), (status, ctype, body))
    webhook = json.loads((ROOT / "events" / "stripe-webhook-invoice-paid.json").read_text())
    status, _, body = http("POST", api_url + "/stripe/webhook",
                           {"Content-Type": "application/json",
                            "Stripe-Signature": webhook["headers"]["stripe-signature"]},
                           webhook["body"])
    check("start-api POST /stripe/webhook signed long ago: 400", status == 400
          and "timestamp" in json.loads(body).get("detail", ""), (status, body))
    resigned = signed_now(webhook)
    headers = {"Content-Type": "application/json",
               "Stripe-Signature": resigned["headers"]["stripe-signature"]}
    status, _, body = http("POST", api_url + "/stripe/webhook", headers, webhook["body"])
    check("start-api POST /stripe/webhook signed now, already applied by the invoke step: "
          "200, a duplicate", status == 200 and json.loads(body).get("duplicate") is True,
          (status, body))

    # The dashboard's Checkout page, completed on the fake: its signed webhooks go through
    # start-api to stripe-webhook, which makes the card the default; the summary shows it.
    checkout = invoke("BillingApiFunction", "events/api-payment-method-checkout.json")
    session = json.loads(checkout["body"])["url"].rsplit("/", 1)[1]
    fake = env("STRIPE_FAKE_URL")
    http("POST", f"{fake}/_fake/checkout/{session}/complete?card=pm_card_visa")
    for _ in range(10):
        method = json.loads(invoke("BillingApiFunction", "events/api-payment-method.json")["body"])
        if method.get("state") == "card":
            break
        time.sleep(2)
    check("the fake's signed Checkout webhooks, through start-api, saved the card the payment-method "
          f"route shows: {method}", method.get("state") == "card", method)


if __name__ == "__main__":
    {"seed": seed, "invoke": invoke_all, "api": api}[sys.argv[1]]()
