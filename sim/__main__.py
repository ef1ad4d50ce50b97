"""``python -m sim <command>``: the same command line as ``relsim``."""

from sim.cli import main

raise SystemExit(main())
