"""What the request path lends the catalogue at start-up.

`catalogue` sits below `completions` and never imports it (an import-linter contract). The few
catalogue features that need the request path (matching uploaded cookies to providers, the admin's
"Test selected providers" and "Refresh models" actions, `catalogue refresh`, a key's spend) call these hooks, which
`completions.apps.CompletionsConfig.ready()` fills in. Until then they do nothing useful: no cookies,
and the actions say the request path is not loaded.
"""

from collections.abc import Callable, Iterable
from typing import Any


def _no_cookies() -> Callable[[str], tuple]:
    return lambda base_url: ()


def _missing(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("The request path (the 'completions' app) is not installed.")


# cookie_matcher(): a function base_url -> the uploaded cookies for that URL, loaded once per snapshot.
cookie_matcher: Callable[[], Callable[[str], tuple]] = _no_cookies
# providers_check(providers) -> results with .ok, .skipped and .summary() (completions.routing.provider_check).
providers_check: Callable[[Iterable[Any]], list[Any]] = _missing
# providers_refresh(names=[...]) -> outcomes with .failed, .skipped and .summary() (completions.upstream.discovery).
providers_refresh: Callable[..., list[Any]] = _missing


def _unknown_spend(api_key: Any) -> float | None:
    return None


# key_spend(api_key) -> the key's spend in its budget period, USD, or None unknown (completions.limits.key_spend).
key_spend: Callable[[Any], float | None] = _unknown_spend
