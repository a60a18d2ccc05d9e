FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY scheduler scheduler
COPY store store
COPY cli cli
COPY api api
COPY workers workers
COPY fixtures fixtures
RUN pip install --no-cache-dir .
ENTRYPOINT ["sched"]
CMD ["demo"]
