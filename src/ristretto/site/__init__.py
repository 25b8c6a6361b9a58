"""Sites: a folder with a config file, a database and files, and everything wired to them."""

from ristretto.site.site import Site, SiteError

__all__ = ["Site", "SiteError"]
