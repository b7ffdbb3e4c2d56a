"""What operators watch: Prometheus metrics (`metrics`, fed by the usage writer off the request path),
`GET /metrics`, `/healthz`, `/readyz` (`views`) and `GET /v1/usage` (`usage_views`)."""
