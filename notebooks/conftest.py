"""nbval runs the lab sources here (the solution version: stubs, then the solutions, then every test).

``student/`` holds the book's pages, generated from the sources by ``scripts/course.py book``: their stubs raise
``NotImplementedError`` by design, so they are not executed (the book shows them unexecuted too);
``tests/test_labs_release.py`` checks that every stub fails its check with "not written yet".
"""

collect_ignore_glob = ["student/*"]
