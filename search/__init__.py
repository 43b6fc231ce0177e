"""skmobile.search: Optuna search over SK architectures (spaces, objective, storage, runner).

``skmobile search --space ablation`` is the command; :func:`run_search` is the API.
"""

from .spaces import SPACES, Candidate, Choice, Space, get_space
from .storage import DEFAULT_STORAGE, open_storage, parse_storage


def run_search(cfg, console=None):
    """Run a :class:`skmobile.search.runner.SearchConfig` (imported lazily: it pulls in optuna)."""
    from .runner import run_search as _run

    return _run(cfg, console)


__all__ = ["SPACES", "Candidate", "Choice", "Space", "get_space", "DEFAULT_STORAGE", "open_storage",
           "parse_storage", "run_search"]
