"""TLS for the REST port and for node-to-node calls, built from the `tls` settings.

One certificate and key serve both sides of a node: the REST port presents them to clients,
and the peer client presents them to the peers it calls (so a node's certificate needs both
the serverAuth and the clientAuth extended key usage, or none). Peers trust `tls.ca_cert` only.

The files are read again every `tls.cert_ttl` seconds; when they changed, the new chain is
loaded into the same SSLContext objects, so every handshake from then on uses it while open
connections keep theirs. A CA file can gain certificates this way but not lose any: OpenSSL
has no call to forget a trusted CA, so removing one needs a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from pathlib import Path

from node.settings import Settings, SettingsError, TlsSettings

log = logging.getLogger(__name__)


class NodeTls:
    """The server and client SSLContexts of one node, and what keeps their certificate fresh."""

    def __init__(self, files: TlsSettings, *, verify_clients: bool, peers: bool) -> None:
        self.files = files
        # Contexts built bare, not with create_default_context: that one trusts the system's
        # CAs, and a client certificate any public CA signed must not pass mutual TLS.
        self.server_context = _context(ssl.PROTOCOL_TLS_SERVER)
        if verify_clients:
            self.server_context.verify_mode = ssl.CERT_REQUIRED
        elif peers:
            # Peers present their certificate; other clients may present none. A certificate
            # that is there must be one the CA signed, and the internal API takes no request
            # without one (node/api/peer_certificates.py).
            self.server_context.verify_mode = ssl.CERT_OPTIONAL
        self.client_context: ssl.SSLContext | None = None
        if peers:
            # Only the cluster's CA is trusted, and a peer's certificate must name the host
            # of the address it advertises.
            self.client_context = _context(ssl.PROTOCOL_TLS_CLIENT)
        try:
            self._fingerprint = self._read_fingerprint()
            self._load(self.contexts)
        except (ssl.SSLError, OSError) as exc:
            raise SettingsError(f"tls.cert / tls.key / tls.ca_cert: {_reason(exc)}") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> NodeTls | None:
        """The node's TLS, or None when the REST port speaks plain http."""
        if not settings.service.enable_tls:
            return None
        return cls(settings.tls, verify_clients=settings.service.verify_https_client_certificate,
                   peers=settings.cluster.p2p.enable_tls)

    @property
    def contexts(self) -> list[ssl.SSLContext]:
        peers = [self.client_context] if self.client_context is not None else []
        return [self.server_context, *peers]

    @property
    def checks_peer_certificates(self) -> bool:
        return self.client_context is not None

    def reload_if_changed(self) -> bool:
        """Load the files again if their content changed; True when a new chain is in use.
        A chain that does not load (a half-written file, a key that does not match the
        certificate yet) leaves the running one in place until the next check."""
        try:
            fingerprint = self._read_fingerprint()
        except OSError as exc:
            log.warning("TLS files not reloaded, keeping the current certificate: %s",
                        _reason(exc))
            return False
        if fingerprint == self._fingerprint:
            return False
        # Load into a scratch context first: a failed load_cert_chain on a live context could
        # leave it with the new certificate and no key.
        try:
            self._load([_context(ssl.PROTOCOL_TLS_SERVER)])
            if self._read_fingerprint() != fingerprint:
                return False  # still being written: the next check takes it
            self._load(self.contexts)
        except (ssl.SSLError, OSError) as exc:
            log.warning("TLS files changed but do not load, keeping the current certificate: "
                        "%s", _reason(exc))
            return False
        self._fingerprint = fingerprint
        log.info("TLS certificate reloaded from %s", self.files.cert)
        return True

    async def keep_fresh(self) -> None:
        """Check the files every `cert_ttl` seconds, for as long as the node runs."""
        if self.files.cert_ttl is None:
            return
        while True:
            await asyncio.sleep(self.files.cert_ttl)
            try:
                self.reload_if_changed()
            except Exception:  # the next period tries again; serving goes on regardless
                log.exception("checking the TLS files for a new certificate failed")

    def _paths(self) -> list[str]:
        return [p for p in (self.files.cert, self.files.key, self.files.ca_cert) if p]

    def _read_fingerprint(self) -> bytes:
        digest = hashlib.sha256()
        for path in self._paths():
            digest.update(Path(path).read_bytes())
        return digest.digest()

    def _load(self, contexts: list[ssl.SSLContext]) -> None:
        for context in contexts:
            context.load_cert_chain(self.files.cert, self.files.key, password=_no_password)
            if self.files.ca_cert:
                context.load_verify_locations(cafile=self.files.ca_cert)


def _no_password() -> bytes:
    # Without this, OpenSSL would ask for a passphrase on the terminal and block the node.
    raise ssl.SSLError("tls.key is encrypted; give the node an unencrypted key")


def _context(protocol: int) -> ssl.SSLContext:
    """No CA trusted yet; a client context checks the certificate and the host name."""
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"not a PEM certificate chain with its matching key, or not a PEM CA ({exc})"
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot read {exc.filename!r}: {exc.strerror or exc}"
    return str(exc)
