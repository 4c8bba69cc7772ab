"""swin_course: the checks of the course labs (``notebooks/``), apart from the library they exercise.

Each lab has a module here (``swin_course.patches`` for lab 2, ..., ``swin_course.capstone`` for lab 11). A check
never just says "wrong": it names the first difference it can explain (a shape, an order of axes, a sign, an
off-by-one), then prints ``PASSED`` or ``NOT YET`` with the reason. Checks raise nothing, so a lab notebook runs
top to bottom. While a check runs the student's code, the library's own version of that step is switched off
(:func:`swin_course._check.forbid`): calling ``swin_viz`` does not pass. ``swin_course.grading`` holds what the
autograder's hidden tests call; ``scripts/course.py`` makes the releases and grades with Otter-Grader.

Layering: this package imports ``swin_viz``; the library and the book's chapters never import it.
"""

from ._check import NOT_WRITTEN, Report, compare, explain_difference

__all__ = ["NOT_WRITTEN", "Report", "compare", "explain_difference"]
