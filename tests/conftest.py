from __future__ import annotations

import pytest

from tests.browser import CHROMIUM_ARGS, require_chromium


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per test session (per xdist worker)."""
    path = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The sample content (content/partners) built once per session for 2026-11-15, served from '/'.

    The search index is included when the index stage exists. Tests must not modify it.
    """
    import datetime as dt

    from partnerdir.pipeline import build_site
    from partnerdir.project import Paths

    out = tmp_path_factory.mktemp("built") / "site"
    result = build_site(Paths(out=out), dt.date(2026, 11, 15), search=True)
    assert result.ok, "\n".join(p.text() for p in result.problems)
    return out


@pytest.fixture(scope="session")
def site_url(built_site):
    """The built sample site on a local web server; the URL ends with '/'."""
    from tests.browser import serve_folder

    with serve_folder(built_site) as url:
        yield url
