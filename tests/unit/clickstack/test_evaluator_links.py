"""An alert is evaluated only while what it measures is there: a delete committed between the evaluator's reads
(the alert, then its neighbours) reads as the alert's own deletion, not as a failed evaluation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from clickplane.clickstack.checks import Neighbours
from clickplane.clickstack.evaluator import AlertJob, links_resolve

SEARCH = {"id": "s1", "name": "errors"}
DASHBOARD = {"id": "d1", "tiles": [{"id": "t1", "config": {}}]}


def _job(alert: dict[str, Any], searches: dict[str, Any], dashboards: dict[str, Any]) -> AlertJob:
    neighbours = Neighbours(connection="c", sources={}, saved_searches=searches, dashboards=dashboards)
    return AlertJob("a1", uuid.uuid4(), uuid.uuid4(), alert, neighbours, None)


@pytest.mark.parametrize(("alert", "searches", "dashboards", "resolves"), [
    ({"source": "saved_search", "savedSearchId": "s1"}, {"s1": SEARCH}, {}, True),
    ({"source": "saved_search", "savedSearchId": "s1"}, {}, {}, False),
    ({"source": "tile", "dashboardId": "d1", "tileId": "t1"}, {}, {"d1": DASHBOARD}, True),
    ({"source": "tile", "dashboardId": "d1", "tileId": "t2"}, {}, {"d1": DASHBOARD}, False),
    ({"source": "tile", "dashboardId": "d1", "tileId": "t1"}, {}, {}, False),
])
def test_an_alert_resolves_only_with_what_it_measures(alert: dict[str, Any], searches: dict[str, Any],
                                                      dashboards: dict[str, Any], resolves: bool) -> None:
    assert links_resolve(_job(alert, searches, dashboards)) is resolves
