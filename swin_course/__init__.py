"""Checks for the course labs (``notebooks/``): compare a student's function with swin_viz and say what is wrong.

Each lab has a module here (``swin_viz.labs.patches`` for lab 2, ...). A check never just says "wrong": it
names the first difference it can explain (a shape, an order of axes, a sign, an off-by-one), then prints
``PASSED`` or ``NOT YET`` with the reason. Checks raise nothing, so a lab notebook runs top to bottom.
"""

from ._check import Report, compare, explain_difference

__all__ = ["Report", "compare", "explain_difference"]
