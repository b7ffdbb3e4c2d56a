"""The catalogue an operator manages: providers, models, who serves what, and API keys."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from catalogue.credentials import EncryptedCredentialField


class Capability(models.TextChoices):
    CHAT = "chat"
    VISION = "vision"
    TOOLS = "tools"
    JSON = "json"
    IMAGE = "image"
    TRANSCRIPTION = "transcription"
    SPEECH = "speech"
    EMBEDDING = "embedding"
    RESPONSES = "responses"  # an OpenAI-compatible upstream that serves /responses itself (pass-through)


def validate_capabilities(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Capabilities must be a list of names.")
    unknown = sorted(set(value) - set(Capability.values))
    if unknown:
        raise ValidationError(f"Unknown capabilities: {', '.join(unknown)}. Known: {', '.join(Capability.values)}.")


def validate_aliases(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError("Aliases must be a list of non-empty names.")


# `api_key_env` names a variable whose value is sent to the provider's base URL: only credential-like
# names, never the gateway's own secrets (a provider pointed at any URL would carry them there).
API_KEY_ENV_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*_(?:API_KEY|TOKEN)$")
API_KEY_ENV_FORBIDDEN = frozenset(
    {"G4F_API_KEY", "G4F_SECRETS_KEY", "G4F_METRICS_TOKEN", "DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
)
API_KEY_ENV_FORBIDDEN_PREFIXES = ("G4F_", "DJANGO_")


def api_key_env_problem(name: str) -> str | None:
    """Why `name` may not be used as a provider's `api_key_env`, or None when it may."""
    if name in API_KEY_ENV_FORBIDDEN or name.startswith(API_KEY_ENV_FORBIDDEN_PREFIXES):
        return f"'{name}' is one of the gateway's own secrets and is never sent to a provider."
    if not API_KEY_ENV_PATTERN.match(name):
        return f"'{name}' is not a credential variable: use an upper-case name ending in _API_KEY or _TOKEN."
    return None


def validate_api_key_env(value: object) -> None:
    problem = api_key_env_problem(value) if isinstance(value, str) else "The variable name must be text."
    if value and problem:
        raise ValidationError(problem)


def validate_name_list(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError("Give a list of names.")


def price_field(direction: str) -> models.FloatField:
    """A price in USD per million tokens (`direction`: input or output); empty when unknown."""
    return models.FloatField(
        f"{direction} price",
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=f"USD per million {direction} tokens.",
    )


def default_capabilities() -> list[str]:
    return [Capability.CHAT.value]


class Provider(models.Model):
    """An upstream service the gateway can route to."""

    class Status(models.TextChoices):
        WORKING = "working", "Working"
        NOT_WORKING = "not_working", "Not working"
        IGNORED = "ignored", "Ignored"

    class StatusSetBy(models.TextChoices):
        OPERATOR = "operator", "Operator"
        HEALTH = "health", "Health checks"

    name = models.CharField(max_length=100, unique=True)
    adapter = models.CharField(max_length=50, default="openai", help_text="Upstream protocol.")
    base_url = models.URLField(max_length=500, help_text="API base URL, e.g. https://api.openai.com/v1")
    # Encrypted at rest (catalogue/credentials.py); plaintext in Python.
    api_key = EncryptedCredentialField(blank=True, help_text="Upstream credential. Never shown by the API.")
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text=(
            "Environment variable holding the credential (used when api_key is empty): a name ending in "
            "_API_KEY or _TOKEN, never the gateway's own secrets. Only superusers may set it."
        ),
        validators=[validate_api_key_env],
    )
    url = models.URLField("homepage", max_length=500, blank=True)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.WORKING, db_index=True)
    needs_auth = models.BooleanField(default=False, help_text="Skipped by routing until a credential is set.")
    priority = models.IntegerField(default=0, help_text="Higher is tried first.")
    timeout = models.FloatField(default=60.0, help_text="Seconds to wait for the upstream.")
    supports_stream = models.BooleanField(default=True)
    sends_stream_options = models.BooleanField(
        "sends stream_options",
        default=True,
        help_text=(
            "OpenAI-compatible streams ask for usage with stream_options.include_usage. Off for upstreams "
            "that refuse the field (Mistral); a 4xx naming it is retried once without it anyway."
        ),
    )
    # Health, filled by failover and provider checks (completions/routing/health.py). Automatic changes never
    # touch a `not_working` or `ignored` status an operator set; `cooldown_until` keeps routing away
    # (breaker open, or the upstream's Retry-After) and, once past, lets one probe request through.
    status_set_by = models.CharField(
        max_length=10, choices=StatusSetBy.choices, default=StatusSetBy.OPERATOR, editable=False
    )
    cooldown_until = models.DateTimeField(null=True, blank=True, editable=False)
    recent_success_rate = models.FloatField(null=True, blank=True, editable=False)
    recent_latency_ms = models.FloatField(null=True, blank=True, editable=False)
    status_reason = models.CharField(max_length=500, blank=True)
    last_error = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "name"]

    def __str__(self) -> str:
        return self.name


class Model(models.Model):
    """A public model name clients ask for, e.g. `gpt-4o-mini`."""

    name = models.CharField(max_length=200, unique=True)
    owned_by = models.CharField(max_length=100, blank=True)
    aliases = models.JSONField(default=list, blank=True, validators=[validate_aliases])
    price_input = price_field("input")
    price_output = price_field("output")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProviderModel(models.Model):
    """A provider serving a model under its own upstream name, with what it can do."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="provider_models")
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="provider_models")
    upstream_name = models.CharField(max_length=200, blank=True, help_text="Defaults to the model's name.")
    capabilities = models.JSONField(default=default_capabilities, validators=[validate_capabilities])
    discovered = models.BooleanField(default=False, help_text="Added by model discovery rather than an operator.")
    # The mapping's price, when set, wins over the model's (a provider may charge its own).
    price_input = price_field("input")
    price_output = price_field("output")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="unique_provider_model")]
        ordering = ["provider__name", "model__name"]

    def __str__(self) -> str:
        return f"{self.provider.name}: {self.model.name}"


class ApiKey(models.Model):
    """A client key for the gateway. Only a hash is stored; the key is shown once at creation.

    Limits (empty = none) are enforced by `completions.limits`; `allowed_models` / `allowed_providers`
    hold names or aliases (empty = all)."""

    class BudgetPeriod(models.TextChoices):
        DAY = "day", "Day"
        MONTH = "month", "Month"
        TOTAL = "total", "Total"

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16, help_text="First characters of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    rpm = models.PositiveIntegerField("requests per minute", null=True, blank=True)
    tpm = models.PositiveIntegerField("tokens per minute", null=True, blank=True)
    max_concurrent = models.PositiveIntegerField("most requests in flight", null=True, blank=True)
    budget = models.DecimalField(
        "budget (USD)",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Spend allowed per period.",
    )
    budget_period = models.CharField(max_length=10, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTH)
    allowed_models = models.JSONField(
        default=list, blank=True, validators=[validate_name_list], help_text="Model names or aliases; empty = all."
    )
    allowed_providers = models.JSONField(
        default=list, blank=True, validators=[validate_name_list], help_text="Provider names; empty = all."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UsageRecord(models.Model):
    """One served request: who, which provider and model, tokens, latency and attempts."""

    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage")
    endpoint = models.CharField(max_length=50)
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=100, blank=True)
    success = models.BooleanField()
    status_code = models.PositiveSmallIntegerField()
    attempts = models.PositiveSmallIntegerField(default=1)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(default=0)
    stream = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    cost = models.FloatField(default=0, help_text="USD, from the route's price and the row's tokens.")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]


# Upper bounds (ms) of the latency buckets of `UsageRollup`; the last bucket has none.
LATENCY_BUCKETS_MS = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000)


class UsageRollup(models.Model):
    """Usage summed per hour (UTC), key, model, provider and endpoint, kept current by the usage writer
    in the transaction that writes the raw rows (catalogue.usage_reports). Reports read these, never
    the raw rows, which `manage.py usage prune` deletes after USAGE_RETENTION_DAYS."""

    date = models.DateField()
    hour = models.PositiveSmallIntegerField()
    # The ApiKey's id, not a foreign key: a deleted key's usage stays. 0: the master key or auth off.
    api_key_id = models.BigIntegerField(default=0)
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=100, blank=True)
    endpoint = models.CharField(max_length=50)
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cost = models.FloatField(default=0)
    latency_ms_sum = models.FloatField(default=0)
    # Requests by latency: latency_b<i> counts those up to LATENCY_BUCKETS_MS[i] (and above the bound
    # before); latency_b11 those above the last bound. p50/p95 are read from these.
    latency_b0 = models.BigIntegerField(default=0)
    latency_b1 = models.BigIntegerField(default=0)
    latency_b2 = models.BigIntegerField(default=0)
    latency_b3 = models.BigIntegerField(default=0)
    latency_b4 = models.BigIntegerField(default=0)
    latency_b5 = models.BigIntegerField(default=0)
    latency_b6 = models.BigIntegerField(default=0)
    latency_b7 = models.BigIntegerField(default=0)
    latency_b8 = models.BigIntegerField(default=0)
    latency_b9 = models.BigIntegerField(default=0)
    latency_b10 = models.BigIntegerField(default=0)
    latency_b11 = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["date", "hour", "api_key_id", "model", "provider", "endpoint"], name="unique_usage_rollup"
            )
        ]
        indexes = [models.Index(fields=["date", "api_key_id"], name="usage_rollup_date_key")]

    def __str__(self) -> str:
        return f"{self.date} {self.hour:02d}h {self.model} via {self.provider or '-'}: {self.requests}"


class Conversation(models.Model):
    """A chat the server remembers, keyed by the client's `conversation_id`.

    `owner` is the caller that created it (`completions.auth.Caller.owner`: "key:<id>", "master", or ""
    when auth is off). `provider` is the provider that answered last: the next turn tries it first.
    `lease_token` / `lease_until` mark a turn in progress (one at a time per conversation).
    """

    id = models.CharField(max_length=64, primary_key=True)
    owner = models.CharField(max_length=50, blank=True, db_index=True)
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at", "id"]

    def __str__(self) -> str:
        return self.title or self.id


class Message(models.Model):
    """One message of a conversation, in order. Assistant messages record who answered and usage;
    `incomplete` marks a reply cut short (client gone or upstream failure mid-stream)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    position = models.PositiveIntegerField()
    role = models.CharField(max_length=20)
    content = models.JSONField(null=True, blank=True, help_text="A string or a list of content parts.")
    name = models.CharField(max_length=100, blank=True)
    tool_calls = models.JSONField(null=True, blank=True)
    tool_call_id = models.CharField(max_length=100, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    incomplete = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "position"]
        constraints = [models.UniqueConstraint(fields=["conversation", "position"], name="unique_message_position")]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.position} {self.role}"


class StoredResponse(models.Model):
    """A Responses API answer kept for `GET /v1/responses/{id}` and `previous_response_id` (`store: true`).

    `owner` follows the conversations' rule (`completions.auth.Caller.owner`): another owner's
    response is a 404, as a missing one. `response` is the Response object as the client got it;
    `input_items` this request's input items; `context` the items a continuation starts from (the
    previous response's context, this input, this output), so continuing needs one read.
    """

    id = models.CharField(max_length=100, primary_key=True)
    owner = models.CharField(max_length=50, blank=True, db_index=True)
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="responses")
    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    previous_response_id = models.CharField(max_length=100, blank=True)
    response = models.JSONField()
    input_items = models.JSONField(default=list)
    context = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.id


class CatalogueVersion(models.Model):
    """One row whose `version` rises in the same transaction as every catalogue change, so instances
    that share only the database (no data directory, no Redis) see each other's changes."""

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"catalogue version {self.version}"
