"""`python -m migrator.cli.main_entry`: the console script, runnable from any interpreter."""

from migrator.cli import main

if __name__ == "__main__":
    main()
