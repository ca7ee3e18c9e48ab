"""``interanimate ui``: a local web app (Gradio) to animate a portrait and to review a generated dataset (docs/ui.md).

* :mod:`~interanimate.ui.app` — the page (layout and wiring only);
* :mod:`~interanimate.ui.actions` — what its buttons do, calling the library and the ``animate`` command;
* :mod:`~interanimate.ui.jobs` — dataset generation as server-side child processes that outlive a page;
* :mod:`~interanimate.ui.roots` — the folders the app may read, and nothing else.
"""
