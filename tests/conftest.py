"""Shared test set-up: the ``slow`` marker, so that a quick local run can leave the slow tests out.

``make test`` (and CI) runs everything; ``make test-fast`` passes ``-m "not slow"``.
"""


def pytest_configure(config):
    """Declare the markers the suite uses."""
    config.addinivalue_line("markers", "slow: trains networks, runs experiments or builds PDFs (seconds each)")
