"""What the request path stores besides the catalogue: generated media files and provider cookies."""

from django.db import models


class MediaFile(models.Model):
    """A file the gateway wrote under MEDIA_ROOT (a generated image); only these are served at /media/."""

    filename = models.CharField(max_length=100, unique=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    etag = models.CharField(max_length=64, help_text="Hash of the content, sent as the ETag.")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename


class ProviderCookie(models.Model):
    """A cookie uploaded by an operator, sent to providers whose base URL host matches `domain`."""

    domain = models.CharField(max_length=253, db_index=True, help_text="Without a leading dot.")
    name = models.CharField(max_length=256)
    path = models.CharField(max_length=1000, default="/")
    value = models.TextField()
    expires = models.DateTimeField(null=True, blank=True, help_text="Empty: a session cookie, kept until replaced.")
    secure = models.BooleanField(default=False, help_text="Sent only to https base URLs.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain", "name"]
        constraints = [models.UniqueConstraint(fields=["domain", "name", "path"], name="unique_provider_cookie")]

    def __str__(self) -> str:
        return f"{self.domain}: {self.name}"
