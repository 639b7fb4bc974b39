# AnomalyLens: the inspection dashboard on a slim Python 3.11 image, CPU by default (CUDA is used when present).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TQDM_DISABLE=1 \
    ANOMALYLENS_REGISTRY=/app/models \
    ANOMALYLENS_DATA_ROOT=/app/data

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl libglib2.0-0 libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --create-home --uid 10001 anomalylens \
    && mkdir -p /app/models /app/data \
    && chown -R anomalylens:anomalylens /app/models /app/data
USER anomalylens

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl --fail --silent http://localhost:8501/_stcore/health || exit 1

# `serve` runs `streamlit run app.py` headless, its upload limit from ANOMALYLENS_MAX_UPLOAD_MB.
CMD ["python", "-m", "services.cli", "serve", "--port", "8501", "--address", "0.0.0.0"]
