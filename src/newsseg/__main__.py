"""`python -m newsseg` runs the command-line interface."""

from newsseg.cli import main

main()
