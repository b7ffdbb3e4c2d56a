"""What `g4f api` and `./scripts/serve` print on start: which providers can answer a chat, and, when
none is ready without the internet, how to add one (a key, or a local Ollama / LM Studio / vLLM)."""

import time
from urllib.parse import urlsplit

from catalogue.models import Provider
from catalogue.provider_state import WORKING, provider_state
from catalogue.selectors import provider_credential
from g4fsite.conf import gateway_settings

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def providers_usable_report() -> str:
    """Lines saying which providers are usable for chat (working, with a chat model) and why the
    others are not; with no usable provider that has a key or runs on this machine, how to add one."""
    ignored = {name.lower() for name in gateway_settings.IGNORED_PROVIDERS}
    usable, local, keyed, others = [], [], [], {}
    for provider in Provider.objects.prefetch_related("provider_models"):
        credential = provider_credential(provider)
        state = provider_state(
            status=provider.status,
            status_set_by=provider.status_set_by,
            status_reason=provider.status_reason,
            missing_credential=provider.needs_auth and not credential,
            cooldown_until=provider.cooldown_until.timestamp() if provider.cooldown_until else None,
            now=time.time(),
            ignored=provider.name.lower() in ignored,
        )
        chat = any("chat" in (mapping.capabilities or ()) for mapping in provider.provider_models.all())
        is_local = urlsplit(provider.base_url).hostname in LOCAL_HOSTS
        if state.state == WORKING and chat:
            usable.append(provider.name)
            if is_local or credential:
                local.append(provider.name)
        elif state.state != WORKING:
            others.setdefault(state.state.replace("_", " "), []).append(provider.name)
        if provider.api_key_env and not credential:
            keyed.append(provider.api_key_env)
    lines = [f"Usable chat providers: {', '.join(usable)}." if usable else "No provider is usable for chat."]
    lines += [f"  {state}: {', '.join(names)}" for state, names in sorted(others.items())]
    if not local:
        keys = f" (e.g. {', '.join(keyed[:4])})" if keyed else ""
        lead = "They need the internet. To add another" if usable else "To add one"
        lines.append(
            f"{lead}: set a provider's key{keys} in the environment before starting, or in the admin at"
            " /admin/; or run a local Ollama (http://localhost:11434/v1), LM Studio (http://localhost:1234/v1)"
            " or vLLM (http://localhost:8000/v1) and list its models: `python manage.py catalogue refresh Ollama`."
        )
    return "\n".join(lines)
