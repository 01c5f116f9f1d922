from helpdesk.cli.main import main

raise SystemExit(main())
