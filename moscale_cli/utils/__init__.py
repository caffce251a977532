"""Small shared helpers: atomic file output, devices, seeding, config dataclasses."""
