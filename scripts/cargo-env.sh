# Cargo settings shared by the project's scripts. Source it from the repository root.
#
# Builds go to a folder outside the clone so that repeated runs (and CI on the same machine) reuse the
# compiled dependencies. Cargo tells workspace crates apart by their path relative to the workspace,
# so two checkouts sharing that folder would reuse each other's builds of our own crates:
# `fresh_workspace_crates` makes ours rebuild from this checkout; dependencies stay cached. Its
# arguments go to `cargo clean` (`--target aarch64-unknown-linux-gnu`: the Lambda builds).

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/billing-target}"

fresh_workspace_crates() {
  local members
  members=$(cargo metadata --no-deps --format-version 1 --locked \
    | python3 -c 'import json,sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"]))')
  # shellcheck disable=SC2086
  cargo clean $members "$@" --quiet 2>/dev/null || true
}
