"""Flows as data (the *.yaml files here) and the hooks they call by name."""
