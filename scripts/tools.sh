# The pinned Python-packaged tools of the project's scripts, each in its own virtual environment
# under ~/.cache, installed on first use (nothing is downloaded after that). Source this file.
#   ensure_sam            aws-sam-cli and cfn-lint: $SAM_VENV/bin/{sam,cfn-lint}
#   ensure_cargo_lambda   cargo-lambda and zig (cross builds for Lambda): $CARGO_LAMBDA_VENV/bin

SAM_VERSION="1.170.0"
CFN_LINT_VERSION="1.58.0"
CARGO_LAMBDA_VERSION="1.9.2"
ZIG_VERSION="0.17.1"
SAM_VENV="${BILLING_SAM_VENV:-$HOME/.cache/billing-venv-sam-$SAM_VERSION-$CFN_LINT_VERSION}"
CARGO_LAMBDA_VENV="${BILLING_CARGO_LAMBDA_VENV:-$HOME/.cache/billing-venv-lambda-$CARGO_LAMBDA_VERSION}"

ensure_sam() {
  if [ ! -x "$SAM_VENV/bin/sam" ] || [ ! -x "$SAM_VENV/bin/cfn-lint" ]; then
    echo "== installing aws-sam-cli==$SAM_VERSION cfn-lint==$CFN_LINT_VERSION into $SAM_VENV"
    python3 -m venv "$SAM_VENV"
    "$SAM_VENV/bin/pip" install --quiet --disable-pip-version-check \
      "aws-sam-cli==$SAM_VERSION" "cfn-lint==$CFN_LINT_VERSION"
  fi
}

ensure_cargo_lambda() {
  if [ ! -x "$CARGO_LAMBDA_VENV/bin/cargo-lambda" ]; then
    echo "== installing cargo-lambda==$CARGO_LAMBDA_VERSION and ziglang into $CARGO_LAMBDA_VENV"
    python3 -m venv "$CARGO_LAMBDA_VENV"
    "$CARGO_LAMBDA_VENV/bin/pip" install --quiet --disable-pip-version-check \
      "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIG_VERSION"
  fi
}
