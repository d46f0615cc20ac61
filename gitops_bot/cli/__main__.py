"""`python -m gitops_bot.cli`, as the writer supervisor starts it."""

from __future__ import annotations

import sys

from gitops_bot.cli import main

sys.exit(main())
