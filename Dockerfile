# The G4F gateway: `g4f api --host 0.0.0.0 --port 1337 --gui`, data (SQLite, secret key, media) in /data.
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
    && mkdir -p /data \
    && chown g4f /data

USER g4f
VOLUME ["/data"]
EXPOSE 1337
# Migrates (and seeds an empty catalogue) on start, then serves. Add `--workers N` for uvicorn workers.
CMD ["g4f", "api", "--host", "0.0.0.0", "--port", "1337", "--gui"]
