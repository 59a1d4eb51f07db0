#!/bin/bash
# Builds Tessera in ./build with -Werror and runs every test suite.
# Exit status is meson test's (or the build's, when the build fails).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
BUILD_DIR=build

if [ -f "$BUILD_DIR/meson-private/coredata.dat" ]; then
  meson setup --reconfigure "$BUILD_DIR" -Dwerror=true || exit 1
else
  meson setup "$BUILD_DIR" -Dwerror=true || exit 1
fi

# Build first so a compile error is reported as such, not as a test failure.
ninja -C "$BUILD_DIR" || exit 1

meson test -C "$BUILD_DIR" --print-errorlogs
