"""Client protocols other than chat completions, one module each (the Responses API, Anthropic's
Messages API): each parses its client's request into the internal chat request and renders results,
stream events and errors back in its own protocol, on the one lifecycle in `completions.http`.
It mirrors `completions.upstream.adapters`, which holds one module per upstream protocol."""
