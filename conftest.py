"""Root conftest of the checkout. The suite's pytest plugin is the installed entry point
``conformance.plugin``; naming it here too lets a checkout that is not installed run."""

pytest_plugins = ["conformance.plugin"]
