"""Where generated media live, and the public base URL of their links, read from the environment.

`G4F_MEDIA_STORAGE` picks the storage behind `/media/`: `filesystem` (the default: files under
`MEDIA_ROOT`, for one machine) or `s3` (one S3-compatible bucket shared by every instance, through
django-storages). `G4F_PUBLIC_BASE_URL` is the base of the links the gateway gives out. A bad value
stops start-up with `ImproperlyConfigured` naming the variable, never a credential.
"""

from collections.abc import Mapping
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

FILESYSTEM_STORAGE = "django.core.files.storage.FileSystemStorage"
S3_STORAGE = "completions.media.s3.S3MediaStorage"
STORAGE_KINDS = ("filesystem", "s3")
ADDRESSING_STYLES = ("auto", "path", "virtual")


def http_url(name: str, value: str, *, example: str) -> str:
    """`value` as an http(s) URL with a host and without a query, fragment or user:password@
    (the URL is shown in answers and logs); ImproperlyConfigured naming `name` otherwise."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    problem = ""
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "must be an http or https URL with a host"
    elif parts.username is not None or parts.password is not None:
        problem = "must not contain a user name or password"
    elif parts.query or parts.fragment or "?" in value or "#" in value:
        problem = "must not have a query (?...) or fragment (#...)"
    if problem:
        shown = value if parts is None or parts.password is None else "(a URL with a password, not shown)"
        raise ImproperlyConfigured(f"{name} {problem}, such as {example}; got {shown!r}.")
    return value.rstrip("/")


def public_base_url(environ: Mapping[str, str]) -> str:
    """G4F_PUBLIC_BASE_URL, checked, without a trailing slash; "" when unset."""
    value = environ.get("G4F_PUBLIC_BASE_URL", "").strip()
    if not value:
        return ""
    return http_url("G4F_PUBLIC_BASE_URL", value, example="https://gw.example.com or https://example.com/gateway")


def media_storage(environ: Mapping[str, str]) -> dict:
    """The `STORAGES["media"]` entry the environment asks for (see the module docstring)."""
    kind = environ.get("G4F_MEDIA_STORAGE", "").strip().lower() or "filesystem"
    if kind not in STORAGE_KINDS:
        raise ImproperlyConfigured(f"G4F_MEDIA_STORAGE must be one of {', '.join(STORAGE_KINDS)}; got {kind!r}.")
    if kind == "filesystem":
        # No location: FileSystemStorage follows settings.MEDIA_ROOT (G4F_MEDIA_DIR).
        return {"BACKEND": FILESYSTEM_STORAGE}
    return {"BACKEND": S3_STORAGE, "OPTIONS": s3_options(environ)}


def s3_options(environ: Mapping[str, str]) -> dict:
    """django-storages S3Storage options from the G4F_S3_* variables. Without G4F_S3_ACCESS_KEY_ID
    and G4F_S3_SECRET_ACCESS_KEY, boto3 finds credentials its usual way (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, an instance role)."""
    bucket = environ.get("G4F_S3_BUCKET", "").strip()
    if not bucket:
        raise ImproperlyConfigured("G4F_MEDIA_STORAGE=s3 needs G4F_S3_BUCKET, the name of the bucket.")
    options: dict = {
        "bucket_name": bucket,
        # Objects stay private: /media/ on any instance serves them; no bucket URL is given out.
        "default_acl": None,
        "querystring_auth": False,
        # Names are 32 random characters: checking for an existing object first is a wasted request.
        "file_overwrite": True,
        "location": environ.get("G4F_S3_PREFIX", "").strip().strip("/"),
    }
    endpoint = environ.get("G4F_S3_ENDPOINT_URL", "").strip()
    if endpoint:
        options["endpoint_url"] = http_url("G4F_S3_ENDPOINT_URL", endpoint, example="http://127.0.0.1:9000")
    region = environ.get("G4F_S3_REGION", "").strip()
    if region:
        options["region_name"] = region
    style = environ.get("G4F_S3_ADDRESSING_STYLE", "").strip().lower()
    if style:
        if style not in ADDRESSING_STYLES:
            raise ImproperlyConfigured(
                f"G4F_S3_ADDRESSING_STYLE must be one of {', '.join(ADDRESSING_STYLES)}; got {style!r}."
            )
        options["addressing_style"] = style
    access_key = environ.get("G4F_S3_ACCESS_KEY_ID", "").strip()
    secret_key = environ.get("G4F_S3_SECRET_ACCESS_KEY", "").strip()
    if bool(access_key) != bool(secret_key):
        raise ImproperlyConfigured("Set both G4F_S3_ACCESS_KEY_ID and G4F_S3_SECRET_ACCESS_KEY, or neither.")
    if access_key:
        options.update(access_key=access_key, secret_key=secret_key)
    return options
