"""What `clickplane serve` refuses to start with, before it opens anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from clickplane.server import release_channel_binaries
from clickplane.settings import Settings


def test_release_channels_are_refused_on_the_kubernetes_runtime(tmp_path: Path) -> None:
    binary = Settings(data_dir=tmp_path).resolved_clickhouse_binary  # a real one: channels' binaries are checked
    assert binary is not None
    channels = f"fast={binary}"
    assert release_channel_binaries(Settings(data_dir=tmp_path, clickhouse_release_channels=channels)) == {
        "fast": str(binary)}
    with pytest.raises(SystemExit, match="CLICKPLANE_KUBERNETES_CLICKHOUSE_IMAGE"):
        release_channel_binaries(Settings(data_dir=tmp_path, clickhouse_runtime="kubernetes",
                                          clickhouse_release_channels=channels))
