"""File safety: temp-and-rename writes with ownership markers (atomic.py) and folders that --resume continues (resumable.py)."""
