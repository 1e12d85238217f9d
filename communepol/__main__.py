"""`python -m communepol` is the `communepol` command."""

from communepol.cli import main

raise SystemExit(main())
