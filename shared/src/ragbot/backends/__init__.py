"""Implementations of the ports. Only these modules import third-party SDKs, each lazily."""
