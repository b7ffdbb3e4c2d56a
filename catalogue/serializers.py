"""Validation of catalogue files (`manage.py catalogue import`)."""

from rest_framework import serializers

from catalogue.models import Capability, Provider, api_key_env_problem
from g4fsite.conf import gateway_settings


class PriceFileSerializer(serializers.Serializer):
    """`"price": {"input": 0.15, "output": 0.60}`: USD per million tokens in and out."""

    input = serializers.FloatField(min_value=0, max_value=1_000_000, required=False, allow_null=True)
    output = serializers.FloatField(min_value=0, max_value=1_000_000, required=False, allow_null=True)


class ModelFileSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    owned_by = serializers.CharField(max_length=100, required=False, allow_blank=True)
    aliases = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    price = PriceFileSerializer(required=False, allow_null=True)


class ProviderModelFileSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    upstream = serializers.CharField(max_length=200, required=False, allow_blank=True)
    capabilities = serializers.ListField(
        child=serializers.ChoiceField(choices=Capability.values), required=False, default=lambda: ["chat"]
    )
    price = PriceFileSerializer(required=False, allow_null=True)  # wins over the model's price


class ProviderFileSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    adapter = serializers.CharField(max_length=50, required=False, default="openai")
    base_url = serializers.URLField(max_length=500, required=False)  # required for a new provider
    api_key = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    api_key_env = serializers.CharField(max_length=100, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=Provider.Status.values, required=False)
    priority = serializers.IntegerField(required=False)
    url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    needs_auth = serializers.BooleanField(required=False)
    timeout = serializers.FloatField(required=False, min_value=0.1, max_value=3600)
    supports_stream = serializers.BooleanField(required=False)
    sends_stream_options = serializers.BooleanField(required=False)
    models = ProviderModelFileSerializer(many=True, required=False)

    def validate_api_key_env(self, value: str) -> str:
        problem = api_key_env_problem(value) if value else None
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_adapter(self, value: str) -> str:
        if value not in gateway_settings.ADAPTERS:
            known = ", ".join(sorted(gateway_settings.ADAPTERS))
            raise serializers.ValidationError(f"Unknown adapter '{value}'. Known: {known}.")
        return value


class CatalogueFileSerializer(serializers.Serializer):
    """A catalogue file. Keys starting with `_` (such as `_prices_as_of`) are notes and are ignored."""

    providers = ProviderFileSerializer(many=True, required=False, default=list)
    models = ModelFileSerializer(many=True, required=False, default=list)

    def validate_providers(self, value: list[dict]) -> list[dict]:
        names = [p["name"].lower() for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise serializers.ValidationError(f"Provider names appear more than once: {', '.join(duplicates)}.")
        return value
