"""`python -m mockserver` starts the server, like `vidu-lipsync-mock serve`."""

from .cli import main

raise SystemExit(main())
