#!/usr/bin/env bash
# The course's one command: releases of the labs and grading, with Otter-Grader (see scripts/course.py).
#   bash scripts/course.sh release [LAB ...]            -> _course/{student,instructor,autograder}/
#   bash scripts/course.sh grade SUBMISSIONS_DIR        -> _course/grades.csv
#   bash scripts/course.sh book [LAB ...]               -> notebooks/student/ (the book's lab pages)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/venv.sh" requirements-test.txt
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$root/.venv/bin/python" "$root/scripts/course.py" "$@"
