"""``python -m kvt.cli``: the ``kvt`` command (the distributed tests start their workers so)."""

from kvt.cli import main

if __name__ == "__main__":
    main()
