"""Service settings: environment (``FINISHSCAN_*``) and CLI flags, validated in one place.

Nothing is read at import time; build one with ``Settings()`` (environment) or
``Settings(db="sqlite:///x.db", port=9000)`` (explicit values win over the environment).

    >>> Settings(max_upload_bytes=1024).max_upload_bytes
    1024
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from finishscan.paths import default_db_url, default_model_path

TileMode = Literal["auto", "on", "off"]


class Settings(BaseSettings):
    """Everything ``create_app`` needs; env names are the field names upper-cased with
    the ``FINISHSCAN_`` prefix (``FINISHSCAN_DB``, ``FINISHSCAN_MAX_PIXELS``, ...)."""

    model_config = SettingsConfigDict(env_prefix="FINISHSCAN_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    db: str = Field(default_factory=default_db_url, description="SQLAlchemy-style register URL")
    model: Path = Field(default_factory=default_model_path, description="ONNX model file")
    photo_root: Path | None = Field(None, description="photo store; default beside the register")
    rules: Path | None = Field(
        None, description="warning rules YAML; default configs/warnings.yaml"
    )

    threads: int | None = Field(None, ge=1, description="ONNX Runtime intra-op threads")
    conf: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="one confidence threshold for every class; unset: the model's per-class "
        "thresholds (0.25 for a model without them)",
    )
    iou: float = Field(0.7, ge=0.0, le=1.0)
    default_tile: TileMode = "auto"
    tta: bool = Field(
        False,
        description="read every photo also mirrored and fuse the two views (`detect --tta`): "
        "about twice the inference time; the model version gets '+flip'",
    )

    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1, description="413 above this")
    max_pixels: int = Field(50_000_000, ge=1, description="413 above width*height")

    inference_concurrency: int = Field(
        1, ge=1, description="photos inferred at once (each run already uses all threads)"
    )
    batch_max: int = Field(1, ge=1, description="micro-batch size; 1 turns micro-batching off")
    batch_wait_ms: float = Field(5.0, ge=0.0, description="how long a batch waits to fill")

    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="allowed CORS origins; empty = CORS off"
    )
    url_secret: str | None = Field(
        None, description="key signing the report's photo links; random per process if unset"
    )
    warnings_refresh_s: float = Field(
        900.0,
        ge=0.0,
        description="re-evaluate every project's warnings this often (overdue ones appear as "
        "time passes, with no upload); 0 turns the periodic refresh off",
    )
    bootstrap_admin: bool = Field(
        True, description="on an empty register create an admin key and print it once"
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, v: object) -> object:
        if isinstance(v, str):
            return [o.strip() for o in v.split(",") if o.strip()]
        return v

    @field_validator("url_secret")
    @classmethod
    def _strong_secret(cls, v: str | None) -> str | None:
        if v is not None and (len(v) < 32 or v.lower() in {"changeme", "secret", "x" * len(v)}):
            raise ValueError("url_secret must be at least 32 random characters (or unset)")
        return v

    @property
    def batching(self) -> bool:
        return self.batch_max > 1
