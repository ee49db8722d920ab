"""``newsseg annotate``: correct a model's labels of your own pages in the browser, and
retrain on them as you go.

:mod:`newsseg.annotate.session` holds the run's state and does the work (no web framework);
:mod:`newsseg.annotate.server` serves it with Flask (``pip install 'newsseg[annotate]'``);
``static/`` holds the page, its script and its style, shipped with the package.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

from newsseg.errors import NewssegError

RETRAIN_EVERY = 10
"""Saved documents after which a model is retrained by default (0: only on demand)."""
INSTALL_HINT = "newsseg annotate needs Flask: pip install 'newsseg[annotate]'"


def require_flask() -> None:
    """Fail with the install command when Flask is missing."""
    if importlib.util.find_spec("flask") is None:
        raise NewssegError(INSTALL_HINT)


def annotate(
    paths: Sequence[str | Path],
    output_dir: str | Path,
    model: str | Path | None = None,
    *,
    base: Sequence[str | Path] = (),
    order: str = "uncertain",
    retrain_every: int = RETRAIN_EVERY,
    host: str = "127.0.0.1",
    port: int = 0,
    open_browser: bool = True,
    trust_pickle: bool = False,
    encoding: str = "utf-8",
    echo: Callable[[str], None] = print,
) -> None:
    """Open an annotation run over ``paths`` saving to ``output_dir`` and serve its page on
    ``host:port`` until interrupted (see :func:`newsseg.annotate.session.open_session`)."""
    require_flask()
    from newsseg.annotate import server, session

    run = session.open_session(
        paths,
        output_dir,
        model,
        base=base,
        order=order,
        retrain_every=retrain_every,
        encoding=encoding,
        trust_pickle=trust_pickle,
    )
    server.run(run, host=host, port=port, open_browser=open_browser, echo=echo)
