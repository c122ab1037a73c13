"""`python -m bot.cli`: the `danvan` command."""

from bot.cli.main import main

raise SystemExit(main())
