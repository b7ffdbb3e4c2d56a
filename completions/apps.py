from django.apps import AppConfig


class CompletionsConfig(AppConfig):
    name = "completions"

    def ready(self) -> None:
        """Lend the catalogue what it needs from the request path (see `catalogue.hooks`)."""
        from catalogue import hooks
        from completions.cookies.jar import cookie_jar_load, cookies_matching
        from completions.limits import key_spend
        from completions.routing.provider_check import providers_check
        from completions.upstream.discovery import providers_refresh

        def cookie_matcher():
            jar = cookie_jar_load()
            return lambda base_url: cookies_matching(jar, base_url)

        hooks.cookie_matcher = cookie_matcher
        hooks.providers_check = providers_check
        hooks.providers_refresh = providers_refresh
        hooks.key_spend = key_spend
