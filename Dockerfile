# The bastion: SSH proxy (2222) and web console (8080) in one process, as a non-root user.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/bastion --uid 10001 bastion

WORKDIR /opt/bastion
COPY pyproject.toml README.md ./
COPY bastion ./bastion
COPY web ./web
COPY contracts ./contracts
RUN pip install --no-cache-dir .

USER bastion
ENV BASTION_CONFIG=/etc/bastion/bastion.toml
EXPOSE 2222 8080
ENTRYPOINT ["bastion"]
CMD ["serve"]
