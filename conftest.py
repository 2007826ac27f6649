"""Root conftest: says which database and browser the suite uses, in the report header."""

import shutil


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    engine = "PostgreSQL" if "postgresql" in db["ENGINE"] else "SQLite"
    where = (
        f"{db.get('HOST') or 'socket'}:{db.get('PORT') or ''}/{db['NAME']}"
        if engine == "PostgreSQL"
        else db["NAME"]
    )
    browser = (
        "browser tests: Chromium at /usr/bin/chromium"
        if shutil.which("chromium")
        else "browser tests: SKIPPED (no /usr/bin/chromium; install Debian's chromium to run them)"
    )
    return [f"database: {engine} ({where}); tests run on a test_ copy", browser]
