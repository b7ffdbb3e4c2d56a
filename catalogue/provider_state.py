"""A provider's state, in one word, the same in routing, `/v1/providers`, the admin and the GUI.

Pure: plain values in (a catalogue row's or snapshot entry's fields, `now` in epoch seconds), a
`ProviderState` out. No database, no clock. States, first match wins:

- `ignored`: the operator's status, or `IGNORED_PROVIDERS` from configuration;
- `needs_credential`: the provider needs a key and has none;
- `not_working`: an operator marked it so (the reason is theirs);
- `cooling_down`: the circuit breaker, a provider check or the upstream's Retry-After keeps routing
  away until `until`;
- `working`: routing may try it (also when a breaker's cool-down has ended: one probe goes through).
"""

from dataclasses import dataclass

from catalogue.snapshot import ProviderEntry

WORKING = "working"
NOT_WORKING = "not_working"
IGNORED = "ignored"
NEEDS_CREDENTIAL = "needs_credential"
COOLING_DOWN = "cooling_down"
STATES = (WORKING, NOT_WORKING, IGNORED, NEEDS_CREDENTIAL, COOLING_DOWN)
SET_BY_HEALTH = "health"


@dataclass(frozen=True, slots=True)
class ProviderState:
    """One of `STATES`, why (may be empty), and until when for `cooling_down`."""

    state: str
    reason: str = ""
    until: float | None = None
    rate_limited: bool = False

    @property
    def working(self) -> bool:
        return self.state == WORKING

    @property
    def label(self) -> str:
        """The word for people: `needs_credential` -> "Needs credential"."""
        return self.state.replace("_", " ").capitalize()


def provider_state(
    *,
    status: str,
    status_set_by: str,
    status_reason: str,
    missing_credential: bool,
    cooldown_until: float | None,
    now: float | None,
    ignored: bool = False,
) -> ProviderState:
    """The state of one provider (see the module). Without `now`, cool-downs are not judged: a
    provider health marked not working is `not_working`, a rate-limited one `working`."""
    if ignored or status == IGNORED:
        return ProviderState(IGNORED, status_reason if status == IGNORED else "listed in IGNORED_PROVIDERS")
    if missing_credential:
        return ProviderState(NEEDS_CREDENTIAL, "no credential configured")
    if status == NOT_WORKING:
        if status_set_by != SET_BY_HEALTH or now is None:
            return ProviderState(NOT_WORKING, status_reason)
        if cooldown_until is not None and cooldown_until > now:
            return ProviderState(COOLING_DOWN, status_reason, until=cooldown_until)
        return ProviderState(WORKING, "on trial: its cool-down ended, one request will test it")
    if now is not None and cooldown_until is not None and cooldown_until > now:
        return ProviderState(COOLING_DOWN, "rate limited", until=cooldown_until, rate_limited=True)
    return ProviderState(WORKING)


def provider_entry_state(provider: ProviderEntry, *, ignored: bool = False, now: float | None = None) -> ProviderState:
    """`provider_state` of a catalogue snapshot entry."""
    return provider_state(
        status=provider.status,
        status_set_by=provider.status_set_by,
        status_reason=provider.status_reason,
        missing_credential=provider.missing_credential,
        cooldown_until=provider.cooldown_until,
        now=now,
        ignored=ignored,
    )
