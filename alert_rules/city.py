"""The registry of a monitoring center's city (contract section 4): zones, devices, tokens.

Pure models: loading them from YAML is `centinela.config`'s job.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from alert_rules.checkins import CheckIn
from alert_rules.partners import Partner
from alert_rules.plans import ActionPlans
from vocabulary.events import Category, Id, Location
from vocabulary.motion import MotionSettings

LonLat = Annotated[list[float], Field(min_length=2, max_length=2)]
HexKey = Annotated[str, StringConstraints(pattern=r"^([0-9a-fA-F]{2})+$")]
DC09Account = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._:-]{1,16}$")]


def _aes_key(value: str) -> str:
    if len(value) not in (32, 48, 64):
        raise ValueError(f"must be 16, 24 or 32 bytes (32, 48 or 64 hex digits), not {len(value) / 2:g} bytes")
    return value


AesKey = Annotated[HexKey, AfterValidator(_aes_key)]


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Zone(Entry):
    id: Id
    name: str = ""
    polygon: Annotated[list[LonLat], Field(min_length=3, description="[lon, lat] corners, WGS84")]
    timezone: str = Field("UTC", description="IANA time zone for the zone's rules, e.g. America/Guatemala")

    @field_validator("polygon")
    @classmethod
    def _within_earth(cls, polygon: list[list[float]]) -> list[list[float]]:
        for lon, lat in polygon:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError(f"corner [{lon}, {lat}] is not [lon, lat] in degrees")
        return polygon

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    def contains(self, lat: float, lon: float) -> bool:
        """Even-odd ray casting; zones are small enough that the plane is exact enough."""
        inside = False
        corners = self.polygon
        j = len(corners) - 1
        for i, (xi, yi) in enumerate(corners):
            xj, yj = corners[j]
            if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        return inside


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ().-]{2,30}$")]


class Contact(Entry):
    """One person of an account's call list (contract section 8). The phone never leaves the
    center's API to operators: not on a topic, not in a log (hence repr=False)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    relation: Annotated[str, StringConstraints(max_length=100)] = ""
    phone: Phone = Field(repr=False)


class Point(Entry):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class Beeper(Entry):
    id: Id
    home_zone: Id
    key: HexKey | None = Field(None, description="hex HMAC key; when set, every beep must be signed")
    # -- the wearer's account (contract section 8) --
    wearer: Text | None = None
    contacts: list[Contact] = Field([], repr=False, description="the call list, in order")
    checkin: CheckIn | None = Field(None, description="a daily welfare check-in (contract section 15)")


class Panel(Entry):
    id: Id
    zone: Id
    key: HexKey | None = None
    supervision_s: Annotated[int, Field(gt=0)] | None = Field(
        None, description="expected silence at most this long between signals"
    )
    # SIA DC-09 (contract section 7)
    account: DC09Account | None = Field(None, description="its DC-09 account (default: the panel id)")
    dc09_key: AesKey | None = Field(None, description="hex AES key of its encrypted DC-09 frames")
    dc09_clear: bool = Field(False, description="a panel with a `key` but no `dc09_key` may send clear DC-09 "
                             "frames, signed as its own (anyone who knows its account can send them)")

    # -- the account (contract section 8): who lives there, whom to call, what to do --
    address: Text | None = None
    location: Point | None = Field(None, description="the premises; alerts of the panel carry it")
    occupants: Text | None = None
    contacts: list[Contact] = Field([], repr=False, description="the call list, in order")
    passcode: SecretStr | None = Field(None, description="the word that proves a real resident on a call-back")
    instructions: Text | None = None
    action_plans: ActionPlans = Field({}, description="this account's own plans, per category")
    checkin: CheckIn | None = Field(None, description="a daily welfare check-in (contract section 15)")

    @model_validator(mode="after")
    def _account_defaults_to_id(self) -> Panel:
        if self.account is None:
            object.__setattr__(self, "account", self.id)
        return self


FramePoint = Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=2, max_length=2)]
FramePolygon = Annotated[list[FramePoint], Field(min_length=3)]


class Camera(Entry):
    id: Id
    zone: Id
    name: str = ""
    source: str | int | None = Field(None, description="RTSP/HTTP URL, video file, or device index")
    fps: Annotated[float, Field(gt=0, le=60)] = Field(5.0, description="frames analysed per second")
    loop: bool = Field(False, description="play a video file source again when it ends (demos, rehearsals)")
    regions: dict[str, FramePolygon] = Field({}, description="named frame-relative polygons")
    masks: list[FramePolygon] = Field([], description="frame-relative polygons never analysed")
    motion: MotionSettings = Field(default_factory=MotionSettings, description="the motion detector's settings")


Role = Literal["operator", "supervisor", "responder", "viewer"]


class Token(Entry):
    token: Annotated[str, StringConstraints(min_length=8)]
    role: Role
    name: str
    zones: list[Id] | None = Field(None, description="responders: the zones they see")
    categories: list[Category] | None = Field(None, description="responders: the categories they see")
    webhook: str | None = Field(None, description="responders: URL that receives their alerts")
    webhook_key: HexKey | None = None

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if (parts.scheme not in ("http", "https") or not parts.hostname or url != url.strip()
                or any(c.isspace() or ord(c) < 32 for c in url)):
            raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
        try:
            parts.port  # noqa: B018  # raises on a port that is not a number in range
        except ValueError as error:
            raise ValueError(f"{url!r}: {error}") from None
        return url

    @model_validator(mode="after")
    def _responder_scope(self) -> Token:
        if self.role == "responder" and not self.zones:
            raise ValueError("a responder token must name its zones")
        return self

    def sees(self, zone_id: str, category: str) -> bool:
        if self.role != "responder":
            return True
        return zone_id in (self.zones or ()) and (self.categories is None or category in self.categories)

    @property
    def may_act(self) -> bool:
        return self.role in ("operator", "supervisor")


class City(BaseModel):
    """Everything configured, cross-checked: every reference names a known zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zones: list[Zone] = []
    beepers: list[Beeper] = []
    panels: list[Panel] = []
    cameras: list[Camera] = []
    tokens: list[Token] = []
    partners: list[Partner] = []  # agencies that take CAP 1.2 (contract section 16)

    @cached_property
    def zone_by_id(self) -> dict[str, Zone]:
        return {z.id: z for z in self.zones}

    @cached_property
    def beeper_by_id(self) -> dict[str, Beeper]:
        return {b.id: b for b in self.beepers}

    @cached_property
    def panel_by_id(self) -> dict[str, Panel]:
        return {p.id: p for p in self.panels}

    @cached_property
    def camera_by_id(self) -> dict[str, Camera]:
        return {c.id: c for c in self.cameras}

    @cached_property
    def token_by_secret(self) -> dict[str, Token]:
        return {t.token: t for t in self.tokens}

    @cached_property
    def partner_by_id(self) -> dict[str, Partner]:
        return {p.id: p for p in self.partners}

    @cached_property
    def cameras_by_zone(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for camera in self.cameras:
            found.setdefault(camera.zone, []).append(camera.id)
        return found

    def zone_at(self, location: Location | None) -> Zone | None:
        if location is None:
            return None
        return next((z for z in self.zones if z.contains(location.lat, location.lon)), None)

