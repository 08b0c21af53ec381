#!/bin/sh
# Refresh docs/screenshots/*.png (shown in docs/operations.md): the DPO's pages with their
# charts and the audit pages, from a real console in headless Chromium. Needs Debian's
# chromium (scripts/system-deps.sh) and the test dependencies.
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
DOCS_SCREENSHOTS=1 PYTHONPATH="$PWD" "$PYTHON" -m pytest -q tests/web/test_dpo_screenshots.py
ls -l docs/screenshots/
