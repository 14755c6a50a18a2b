"""``python -m bench``: every figure of ``make bench`` (see ``bench.figures``)."""

from bench.figures import main

main()
