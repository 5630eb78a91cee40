"""``python -m kvt.cli``: the same as the ``kvt`` command."""

from kvt.cli import main

if __name__ == "__main__":
    main()
