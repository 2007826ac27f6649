"""Root conftest: which tests also run on SQLite, and, in the report header, which database and
browser this run uses and which tests it runs."""

import shutil

import pytest

# bin/test runs the whole suite on PostgreSQL, then these files again on SQLite (the default
# setup of ./bin/start): the pipeline, resume and retry, runners and real clusters, batches,
# the README's "Try it", and the code that differs by database (bulk writes and their query
# counts, raw SQL, JSON keys, claims and locks, stats). A single test elsewhere can join with
# @pytest.mark.both_databases.
BOTH_DATABASES = {
    "test_accept_at_scale.py",
    "test_attempts_api.py",
    "test_batch_admin.py",
    "test_batches.py",
    "test_bulk.py",
    "test_cluster.py",
    "test_csv_import.py",
    "test_engine.py",
    "test_events.py",
    "test_lifecycle.py",
    "test_operations_cluster.py",
    "test_pipeline.py",
    "test_page_polling.py",
    "test_polling.py",
    "test_push.py",
    "test_runner.py",
    "test_runner_life.py",
    "test_stats_metrics.py",
    "test_status_lane.py",
    "test_try_it.py",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in BOTH_DATABASES:
            item.add_marker(pytest.mark.both_databases)


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
    selection = f"tests: -m '{config.option.markexpr}'" if config.option.markexpr else "tests: all collected"
    return [f"database: {engine} ({where}); tests run on a test_ copy", browser, selection]
