"""suites/mssbench."""
