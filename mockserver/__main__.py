"""`python -m vidu_lipsync_mock` starts the server, like `vidu-lipsync-mock serve`."""

from vidu_lipsync_mock.cli import main

raise SystemExit(main())
