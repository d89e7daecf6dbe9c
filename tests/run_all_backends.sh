#!/usr/bin/env bash
# Runs the whole test suite once per Keras backend. Every backend runs even when an
# earlier one fails; the exit status is non-zero when any backend failed.
# Extra arguments are passed to pytest (e.g. -m "not slow"). Tests run in
# $KERAS_JEPA_TEST_WORKERS pytest-xdist processes (default 2; 1 runs them in this process):
# most of the suite's time is single-threaded compilation, so two workers use two cores.
set -u
cd "$(dirname "$0")/.."
backends=${KERAS_JEPA_TEST_BACKENDS:-"jax tensorflow torch"}
failed=()
# Lint first (pyflakes, pycodestyle, import order; configured in pyproject.toml).
echo "=== ruff check ==="
if ! python -m ruff check .; then
  failed+=("ruff check")
fi
# Tests marked `backend_independent` run on the first backend only (tests/conftest.py).
export KERAS_JEPA_BACKEND_INDEPENDENT_ON=${KERAS_JEPA_BACKEND_INDEPENDENT_ON:-${backends%% *}}
# Shared by the three runs (e.g. cross-backend results computed once).
export KERAS_JEPA_TEST_CACHE=$(mktemp -d)
trap 'rm -rf "$KERAS_JEPA_TEST_CACHE"' EXIT
for backend in $backends; do
  echo "=== KERAS_BACKEND=$backend ==="
  workers=${KERAS_JEPA_TEST_WORKERS:-2}
  parallel=()
  if [ "$workers" -gt 1 ]; then parallel=(-n "$workers"); fi
  KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider "${parallel[@]}" "$@"
  status=$?
  if [ $status -ne 0 ]; then
    failed+=("$backend (exit $status)")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "All backends passed: $backends"
