"""`python -m autoglm_tui` is the same as the `autoglm-tui` command."""

from autoglm_tui.cli import main

raise SystemExit(main())
