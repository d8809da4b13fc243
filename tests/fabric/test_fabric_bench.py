"""`bench/fabric_bench.py` in its quick mode: every part runs and reports its figures.

The figures' shape is checked, never their speed (tests do not assert on time).
"""

from __future__ import annotations

import shutil

import pytest
from bench.fabric_bench import results_table, run_fabric_bench

from hyperhub.fabric.broker import mosquitto_binary

HEADLINE = ("state_msgs_per_s", "cmd_ack_p50_ms", "cmd_ack_p99_ms", "devices", "hub_rss_mb")


@pytest.mark.skipif(
    mosquitto_binary() is None or shutil.which("mosquitto_sub") is None,
    reason="needs Debian's mosquitto and mosquitto-clients",
)
def test_quick_run_reports_every_figure_and_loses_nothing() -> None:
    figures = run_fabric_bench(
        quick=True,
        messages=600,
        devices=20,
        amqtt_messages=200,
        node_acl_messages=200,
        commands=20,
        nodes=2,
        node_devices=10,
        window=200,
    )
    for key in HEADLINE:
        assert isinstance(figures[key], int | float), key
    for part in ("raw", "raw_node_login", "client", "hub", "amqtt_raw", "amqtt_hub"):
        assert figures[part]["complete"], part
        assert figures[part]["dropped"] == 0, part
    assert figures["hub"]["written"] == 600
    assert figures["hub"]["store_matches"] and figures["hub"]["history_matches"]
    assert figures["amqtt_hub"]["store_matches"] and figures["amqtt_hub"]["history_matches"]
    assert figures["hub"]["store_writer"] == "process"  # SQLite on disk
    assert figures["commands"]["commands"] == 20
    assert figures["commands"]["audited"] == 20 + 20  # with the warm-up commands
    assert figures["devices"] == 20  # 2 nodes of 10 devices, all discovered
    for part in ("adapter", "ha_adapter"):  # Zigbee2MQTT and HA discovery lights
        assert figures[part]["complete"] and figures[part]["store_matches"], part
    flood_table = results_table(figures)[0]
    assert str(flood_table.title).startswith("State flood")
