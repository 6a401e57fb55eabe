"""The command line and offline tools (run, evaluate, train, convert, bench): never shipped to the page."""
