"""Root conftest: loads the conformance plugin (options --target, --device, --dtype) and the
property module, which registers the Hypothesis profiles (quick by default, thorough on demand)."""

pytest_plugins = ["conformance.plugin", "conformance.properties"]
