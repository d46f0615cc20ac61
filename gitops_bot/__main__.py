"""`python -m gitops_bot`: the same command line as `gitops-bot`."""

from __future__ import annotations

import sys

from gitops_bot.cli import main

sys.exit(main())
