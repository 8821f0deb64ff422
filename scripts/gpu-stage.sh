#!/usr/bin/env bash
# Stages a git worktree's sources for a GPU-machine run from another worktree: the device tool
# sends only the main checkout, so a helper working in its own worktree copies its tree (tracked
# and untracked-but-not-ignored files, less the tiny model fixtures) into the main checkout's
# git-ignored .wt/NAME and names that folder in the run's `carry`:
#
#   scripts/gpu-stage.sh NAME        # from the worktree; prints the staged folder
#   device run, carry [".gpu-deps", ".wt/NAME"]:
#     cd .wt/NAME && ATOM_GPU_DEPS=../../.gpu-deps ATOM_GPU_BUILD_DIR=/tmp/build-NAME \
#       bash scripts/gpu-check.sh --filter 'Suite*'
set -euo pipefail
name=${1:?usage: gpu-stage.sh NAME}
src=$(git rev-parse --show-toplevel)
main=$(dirname "$(git rev-parse --path-format=absolute --git-common-dir)")
dest=$main/.wt/$name
grep -qx "/.wt/" "$main/.git/info/exclude" 2>/dev/null || echo "/.wt/" >> "$main/.git/info/exclude"
rm -rf "$dest"
mkdir -p "$dest"
cd "$src"
git ls-files -z --cached --others --exclude-standard |
  grep -zv -e '^tests/data/gpt-oss-tiny-' |
  xargs -0 cp --parents -t "$dest" 2>/dev/null || true
echo "$dest ($(du -sh "$dest" | cut -f1))"
