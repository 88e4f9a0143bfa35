# The userpods daemon image: slim, non-root, no build tools in the final stage.
#   docker build -t registry.sciencedata.dk/userpods:0.1.0 .
# manifests/deployment.yaml runs it with a read-only root filesystem.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home userpods
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-compile /wheels/*.whl \
    && rm -rf /wheels \
    && pip uninstall --yes pip setuptools wheel
COPY config.yaml /app/config.yaml
USER 10001:10001
WORKDIR /app
EXPOSE 8080
ENTRYPOINT ["userpods"]
CMD ["serve", "--config", "/app/config.yaml", "--listen", "0.0.0.0:8080"]
