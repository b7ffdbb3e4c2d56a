# The G4F gateway: `g4f api --host 0.0.0.0 --port 1337 --gui` (uvicorn), data (SQLite, keys, media) in /data.
# On 0.0.0.0 it needs a key (-e G4F_API_KEY=...) or, to serve openly on purpose, -e G4F_NO_AUTH_ON_NETWORK=1.
# Clients must use a host name in ALLOWED_HOSTS (default localhost 127.0.0.1 [::1]); see docs/security.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    G4F_DATA_DIR=/data \
    G4F_MEDIA_DIR=/data/media

# espeak-ng: the built-in local text-to-speech provider; sox (+ mp3 handler) converts its WAV.
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng sox libsox-fmt-mp3 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt
COPY . .
RUN pip install --no-deps -e . \
    && useradd --system --uid 1000 --home-dir /data g4f \
    && mkdir -p /data/media \
    && chown -R g4f /data \
    && chmod 700 /data

USER g4f
VOLUME ["/data"]
EXPOSE 1337
# Migrates (and seeds an empty catalogue) on start, then serves. Add `--workers N` for more uvicorn processes.
CMD ["g4f", "api", "--host", "0.0.0.0", "--port", "1337", "--gui"]
