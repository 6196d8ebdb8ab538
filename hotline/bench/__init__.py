"""Benchmarks runnable from the installed command (``hotline bench <name>``). They print their figures and write
them to ``bench-results/``; tests never time anything."""
