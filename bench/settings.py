"""Settings for benchmark servers: the app's, plus the baseline endpoints the benchmarks compare
against."""

from routing_app.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
