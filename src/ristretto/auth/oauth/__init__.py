"""The OAuth2 authorization server and OpenID Connect provider.

``records`` holds the stored clients, codes and tokens (codes and tokens only as SHA-256
hashes), ``keys`` the site's RS256 signing keys, ``server`` the protocol work (authlib's
server core with this site's storage and rules). The HTTP side is ``ristretto.api.oauth``.
"""
