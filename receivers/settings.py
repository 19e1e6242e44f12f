"""The `ingest:` section of the configuration: the receivers' limits (contract section 7)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IngestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    per_device_per_min: int = Field(60, gt=0, description="HTTP events one device may send per minute; more get 429")
    dc09_max_connections: int = Field(2000, gt=0, description="open DC-09 TCP connections; more are closed at once")
    dc09_max_per_address: int = Field(
        50, gt=0, description="open DC-09 TCP connections from one source address; more are closed at once")
    dc09_idle_s: float = Field(
        300, gt=0, description="a DC-09 TCP connection without a complete frame this long is closed (panels poll "
                               "far more often)"
    )
    dc09_per_panel_per_min: int = Field(
        120, gt=0, description="DC-09 frames one panel may have answered per sliding minute; more get NAK")
    dc09_max_buffer_bytes: int = Field(
        8192, ge=256, description="bytes buffered for one connection without a complete frame; more close it"
    )
