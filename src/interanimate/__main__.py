from interanimate.cli import main

raise SystemExit(main())
