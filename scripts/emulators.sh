# Local stand-ins for AWS, for tests and local runs. Source this file, then `start_emulators`;
# `stop_emulators` ends them. Everything listens on 127.0.0.1 only, on a free port, unless
# BILLING_EMULATOR_HOST / BILLING_EMULATOR_PORT say otherwise (scripts/sam-local: the container
# bridge's address, where the functions' containers reach moto).
#
# moto (pinned below) runs in server mode (scripts/moto_server.py: one request at a time, see there) from a virtual environment kept outside the clone. It serves
# DynamoDB, SES v2 and EventBridge. To use DynamoDB Local instead, start it yourself and point
# AWS_ENDPOINT_URL at it: the code only reads the standard AWS_ENDPOINT_URL variables.

MOTO_VERSION="5.2.5"
BILLING_VENV="${BILLING_VENV:-$HOME/.cache/billing-venv-moto-$MOTO_VERSION}"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

ensure_moto() {
  if [ ! -x "$BILLING_VENV/bin/moto_server" ]; then
    echo "== installing moto[server]==$MOTO_VERSION into $BILLING_VENV"
    python3 -m venv "$BILLING_VENV"
    "$BILLING_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
}

start_emulators() {
  ensure_moto
  local host="${BILLING_EMULATOR_HOST:-127.0.0.1}" port="${BILLING_EMULATOR_PORT:-$(free_port)}"
  BILLING_EMULATOR_LOG=$(mktemp -t moto.XXXXXX.log)
  "$BILLING_VENV/bin/python" "$(dirname "${BASH_SOURCE[0]}")/moto_server.py" "$host" "$port" \
    >"$BILLING_EMULATOR_LOG" 2>&1 &
  MOTO_PID=$!
  export AWS_ENDPOINT_URL="http://$host:$port"
  export AWS_REGION="us-east-1" AWS_DEFAULT_REGION="us-east-1"
  export AWS_ACCESS_KEY_ID="testing" AWS_SECRET_ACCESS_KEY="testing"
  for _ in $(seq 1 100); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
      "$AWS_ENDPOINT_URL/moto-api/" 2>/dev/null; then
      echo "== moto listening on $AWS_ENDPOINT_URL (pid $MOTO_PID)"
      return 0
    fi
    sleep 0.1
  done
  echo "moto did not start; its log:" >&2
  cat "$BILLING_EMULATOR_LOG" >&2
  return 1
}

stop_emulators() {
  if [ -n "${MOTO_PID:-}" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=""
  fi
}
