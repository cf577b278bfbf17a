"""Alert notifications (clickstack/messages.py): event ids and Idempotency-Keys, default titles and bodies, the
webhook body template, and the Handlebars subset with its errors."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from clickplane.clickstack.messages import (
    DEFAULT_WEBHOOK_BODY,
    SAMPLES_CHARS,
    TemplateError,
    check_template,
    epoch_ms,
    event_id,
    idempotency_key,
    notification_body,
    notification_title,
    render_template,
    webhook_body,
)

START = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
END = datetime(2024, 1, 1, 12, 5, tzinfo=UTC)

SEARCH_ALERT: dict[str, Any] = {"source": "saved_search", "savedSearchId": "s1", "threshold": 5,
                                "thresholdType": "above", "interval": "5m"}
TILE_ALERT: dict[str, Any] = {"source": "tile", "dashboardId": "d1", "tileId": "t1", "threshold": 2.5,
                              "thresholdType": "above", "interval": "5m"}


def view(value: float, group: str = "", **more: Any) -> dict[str, Any]:
    """The view the controller builds for a window."""
    return {"alert": {"id": "a1", "name": None}, "savedSearch": {"name": "Errors"},
            "dashboard": {"name": "Service health"}, "tile": {"id": "t1", "name": "Error rate"},
            "source": {"name": "Logs"}, "group": group, "isGroupedAlert": bool(group), "value": value,
            "startTime": START.isoformat(), "endTime": END.isoformat(), "granularity": "5m", **more}


# Identity.

def test_event_id_is_a_sha256_that_stays_the_same() -> None:
    first = event_id("a1", "webhook", "w1", False, None)
    assert first == event_id("a1", "webhook", "w1", False, None)
    assert len(first) == 64
    assert int(first, 16) >= 0


def test_event_id_is_the_same_in_every_process() -> None:
    # A fixed value: Python's hash() would differ from one process to the next.
    assert event_id("65f000000000000000000001", "webhook", "65f0000000000000000000aa", False, None) \
        == "6234ff64e994e7d11bf0090b6ea89e27a9cb48b0e206ad820faf8d96e6191ab8"


def test_event_id_differs_by_alert_channel_and_group() -> None:
    ids = {event_id("a1", "webhook", "w1", False, None), event_id("a2", "webhook", "w1", False, None),
           event_id("a1", "webhook", "w2", False, None), event_id("a1", "email", "w1", False, None),
           event_id("a1", "webhook", "w1", True, "web"), event_id("a1", "webhook", "w1", True, "api")}
    assert len(ids) == 6


def test_a_grouped_alert_with_an_empty_group_is_not_the_ungrouped_alert() -> None:
    assert event_id("a1", "webhook", "w1", True, "") != event_id("a1", "webhook", "w1", False, None)


def test_an_ungrouped_alert_ignores_the_group() -> None:
    assert event_id("a1", "webhook", "w1", False, "web") == event_id("a1", "webhook", "w1", False, None)


def test_idempotency_key_is_sha256_of_the_event_window_and_state() -> None:
    key = idempotency_key("e1", START, END, "ALERT")
    canonical = '{"endTime":1704110700000,"eventId":"e1","startTime":1704110400000,"state":"ALERT"}'
    assert key == hashlib.sha256(canonical.encode()).hexdigest()
    assert key == "bc25c3d86fe4f9fa058c1381f1acbbb6aff6c2000b9d6902d530f0b92e90d307"


def test_idempotency_key_differs_by_each_input() -> None:
    keys = {idempotency_key("e1", START, END, "ALERT"), idempotency_key("e2", START, END, "ALERT"),
            idempotency_key("e1", END, END + timedelta(minutes=5), "ALERT"),
            idempotency_key("e1", START, END + timedelta(minutes=5), "ALERT"),
            idempotency_key("e1", START, END, "OK")}
    assert len(keys) == 5


def test_idempotency_key_depends_on_the_instant_not_its_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert idempotency_key("e1", START.astimezone(plus_two), END.astimezone(plus_two), "OK") \
        == idempotency_key("e1", START, END, "OK")


def test_epoch_ms_is_exact() -> None:
    assert epoch_ms(datetime(2024, 1, 1, 12, 0, 0, 999000, tzinfo=UTC)) == 1704110400999


# Titles.

def test_saved_search_default_title() -> None:
    assert notification_title(SEARCH_ALERT, view(12.0), resolved=False) == '🚨 Alert for "Errors" - 12 lines found'


def test_resolved_title_has_the_check_mark_instead() -> None:
    assert notification_title(SEARCH_ALERT, view(0.0), resolved=True) == '✅ Alert for "Errors" - 0 lines found'


def test_tile_default_title_words_the_threshold_with_its_decimals() -> None:
    assert notification_title(TILE_ALERT, view(3.14159), resolved=False) \
        == '🚨 Alert for "Error rate" in "Service health" - 3.1 meets or exceeds 2.5'


def test_tile_resolved_title_says_what_a_clean_value_does() -> None:
    assert notification_title(TILE_ALERT, view(1.0), resolved=True) \
        == '✅ Alert for "Error rate" in "Service health" - 1.0 falls below 2.5'


def test_tile_title_of_a_range() -> None:
    alert = TILE_ALERT | {"thresholdType": "between", "threshold": 5, "thresholdMax": 10}
    assert notification_title(alert, view(7.0), resolved=False) \
        == '🚨 Alert for "Error rate" in "Service health" - 7 falls between 5 and 10'


def test_a_name_template_is_the_title() -> None:
    alert = SEARCH_ALERT | {"name": '{{savedSearch.name}} at {{value}}{{#if group}} for {{group}}{{/if}} "x"'}
    assert notification_title(alert, view(12.0, group="web"), resolved=False) == '🚨 Errors at 12 for web "x"'
    assert notification_title(alert, view(0.0), resolved=True) == '✅ Errors at 0 "x"'


# Bodies.

def test_saved_search_body_has_the_group_value_threshold_range_and_samples() -> None:
    body = notification_body(SEARCH_ALERT, view(12.0, group="ServiceName:web"),
                             [{"Timestamp": "2024-01-01 12:01:00", "Body": "boom, twice"}, {"Timestamp": "x", "n": 3}])
    assert body == ('Group: "ServiceName:web"\n'
                    "12 lines found, which meets or exceeds the threshold of 5 lines\n"
                    "Time Range (UTC): [Jan 1 12:00:00 PM - Jan 1 12:05:00 PM)\n"
                    '```\n2024-01-01 12:01:00,"boom, twice"\nx,3\n```')


def test_body_without_a_group_starts_with_the_value() -> None:
    assert notification_body(SEARCH_ALERT, view(12.0), []).startswith("12 lines found")


def test_the_alert_message_template_is_in_the_body() -> None:
    alert = SEARCH_ALERT | {"message": "Runbook for {{savedSearch.name}}: https://wiki/run"}
    assert "\nRunbook for Errors: https://wiki/run\n```" in notification_body(alert, view(12.0), [])


def test_sample_rows_are_cut_per_line_and_in_all() -> None:
    rows = [{"Body": "x" * 600} for _ in range(10)]
    samples = notification_body(SEARCH_ALERT, view(12.0), rows).split("```\n")[1].removesuffix("\n```")
    assert samples.splitlines()[0] == "x" * 500 + "..."
    assert len(samples) == SAMPLES_CHARS + 3
    assert samples.endswith("...")


def test_resolved_body_says_so_and_shows_no_samples() -> None:
    body = notification_body(SEARCH_ALERT, view(0.0, group="web"), [])
    assert body == ('Group: "web" - The alert has been resolved.\n'
                    "Time Range (UTC): [Jan 1 12:00:00 PM - Jan 1 12:05:00 PM)")


def test_tile_body_words_the_value() -> None:
    body = notification_body(TILE_ALERT, view(3.14159), [])
    assert body == "3.1 meets or exceeds 2.5\nTime Range (UTC): [Jan 1 12:00:00 PM - Jan 1 12:05:00 PM)"


def test_times_after_noon_and_at_midnight_are_twelve_hour() -> None:
    body = notification_body(TILE_ALERT, view(3.0) | {"startTime": "2024-07-04T00:00:00+00:00",
                                                      "endTime": "2024-07-04T13:30:09+00:00"}, [])
    assert "[Jul 4 12:00:00 AM - Jul 4 1:30:09 PM)" in body


# The webhook body.

def webhook(template: str | None, title: str = "🚨 Alert", body: str = "b", link: str = "http://x/a",
            state: str = "ALERT") -> str:
    return webhook_body(template, title=title, body=body, link=link, state=state, start=START, end=END,
                        event_id="e1")


def test_default_webhook_body_carries_every_field() -> None:
    assert json.loads(webhook(None)) == {"text": f"🚨 Alert | b | http://x/a | ALERT | {epoch_ms(START)} | "
                                                 f"{epoch_ms(END)} | e1"}


def test_title_body_and_link_are_json_escaped() -> None:
    tricky = 'say "hi"\\ then\nnew line\ttab'
    sent = json.loads(webhook('{"t": "{{title}}", "b": "{{body}}", "l": "{{link}}"}', title=tricky, body=tricky,
                              link="http://x/?q=\"1\""))
    assert sent == {"t": tricky, "b": tricky, "l": 'http://x/?q="1"'}


def test_times_are_epoch_milliseconds_unquoted() -> None:
    assert json.loads(webhook('{"from": {{startTime}}, "to": {{endTime}}}')) == {
        "from": 1704110400000, "to": 1704110700000}


def test_a_template_can_branch_on_the_state() -> None:
    template = '{"status": "{{#eq state "ALERT"}}firing{{else}}resolved{{/eq}}", ' \
               '"sev": "{{#if (eq state "ALERT")}}high{{else}}none{{/if}}"}'
    assert json.loads(webhook(template)) == {"status": "firing", "sev": "high"}
    assert json.loads(webhook(template, state="OK")) == {"status": "resolved", "sev": "none"}


def test_an_empty_template_is_honoured_as_empty() -> None:
    assert webhook("") == ""


def test_the_default_template_is_hyperdx_s() -> None:
    assert DEFAULT_WEBHOOK_BODY == ('{"text": "{{title}} | {{body}} | {{link}} | {{state}} | {{startTime}} | '
                                    '{{endTime}} | {{eventId}}"}')


# The renderer.

VIEW: dict[str, Any] = {"state": "ALERT", "value": 5.0, "count": 0, "name": "<b>&", "empty": "", "none": None,
                        "items": [], "things": [1, "a"], "object": {}, "alert": {"name": "cpu", "tags": {"a": 1}},
                        "yes": True}


@pytest.mark.parametrize(("template", "rendered"), [
    ("{{state}}", "ALERT"),
    ("{{alert.name}}", "cpu"),
    ("{{this.alert.name}}", "cpu"),
    ("{{ alert.name }}", "cpu"),
    ("{{{alert.name}}}", "cpu"),
    ("{{name}}", "<b>&"),  # no HTML escaping
    ("{{missing}}|{{alert.missing.deeper}}|{{state.length}}", "||"),
    ("{{value}} {{count}} {{yes}} {{none}}", "5 0 true "),
    ("{{alert.tags}} {{things}}", '{"a": 1} [1, "a"]'),
    ("a{{! a comment }}b{{!-- {{state}} --}}c", "abc"),
    ("{{#if state}}y{{/if}}", "y"),
    ("{{#if missing}}y{{else}}n{{/if}}", "n"),
    ("{{#if count}}y{{else}}n{{/if}}{{#if empty}}y{{else}}n{{/if}}{{#if none}}y{{else}}n{{/if}}", "nnn"),
    ("{{#if items}}y{{else}}n{{/if}}{{#if things}}y{{else}}n{{/if}}{{#if object}}y{{else}}n{{/if}}", "nyy"),
    ("{{#if state}}{{#if count}}a{{else}}b{{/if}}{{else}}c{{/if}}", "b"),
    ('{{#eq state "ALERT"}}firing{{/eq}}', "firing"),
    ("{{#eq state 'OK'}}ok{{else}}not ok{{/eq}}", "not ok"),
    ('{{eq value 5}} {{eq value "5"}} {{eq count false}} {{eq none null}} {{eq yes true}}',
     "true false false true true"),
    ('{{#if (eq alert.name "cpu")}}cpu{{/if}}', "cpu"),
    ('{{eq "say \\"x\\"" "say \\"x\\""}}', "true"),
    ("no tags at all", "no tags at all"),
    ("", ""),
])
def test_render(template: str, rendered: str) -> None:
    check_template(template)
    assert render_template(template, VIEW) == rendered


@pytest.mark.parametrize(("template", "problem"), [
    ("{{#each items}}x{{/each}}", "unknown helper 'each' (the helpers are if and eq), at line 1, column 1"),
    ("{{lookup alert 'name'}}", "unknown helper 'lookup'"),
    ("{{if state}}", "if is a block helper"),
    ("ok\n  {{#if state}}open", "{{#if state}} at line 2, column 3 is never closed"),
    ("{{/if}}", "{{/if}} at line 1, column 1 closes no block"),
    ('{{#if state}}x{{/eq}}', "{{/eq}} at line 1, column 15 does not close {{#if state}} opened at line 1, column 1"),
    ("{{else}}", "{{else}} at line 1, column 1 is outside an if or eq block"),
    ("{{#if state}}a{{else}}b{{else}}c{{/if}}", "a second {{else}} at line 1, column 24"),
    ("{{#if}}x{{/if}}", "if takes 1 argument, not 0"),
    ("{{#eq state}}x{{/eq}}", "eq takes 2 arguments, not 1"),
    ("{{eq state 'a' 'b'}}", "eq takes 2 arguments, not 3"),
    ("{{state", "the {{ at line 1, column 1 is never closed"),
    ("{{{state}}", "is never closed by }}}"),
    ("{{}}", "an empty {{}}"),
    ("{{eq state key=1}}", "key=value arguments are not supported"),
    ("{{#if (eq state 'a'}}x{{/if}}", "a ( is never closed"),
    ("{{eq state 'a')}}", "a ) closes nothing"),
    ("{{> partial}}", "is not a path"),
    ("{{../parent}}", "is not a path"),
    ("{{#if (lookup a b)}}x{{/if}}", "unknown helper 'lookup'"),
])
def test_template_errors_say_what_and_where(template: str, problem: str) -> None:
    with pytest.raises(TemplateError) as raised:
        check_template(template)
    assert problem in str(raised.value)
    with pytest.raises(TemplateError):
        render_template(template, VIEW)
