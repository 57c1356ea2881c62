"""C-STORE service class user: sending files and output objects to peers."""

from .send import MAX_CONTEXTS, SendError, SendResult, expand_paths, send_files

__all__ = ["MAX_CONTEXTS", "SendError", "SendResult", "expand_paths", "send_files"]
