"""Root conftest: loads the conformance plugin (options --target, --device, --dtype)."""

pytest_plugins = ["conformance.plugin"]
